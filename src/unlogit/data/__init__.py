"""Datasets: one registry (``get_dataset``), in-memory uint8 tensors, clear errors for missing data."""

from .base import ImageDataset
from .registry import DATA_SOURCES, DATASETS, get_dataset, list_datasets

__all__ = ["DATASETS", "DATA_SOURCES", "ImageDataset", "get_dataset", "list_datasets"]
