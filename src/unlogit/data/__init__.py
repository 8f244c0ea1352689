"""Datasets: one registry (``get_dataset``), in-memory uint8 tensors, clear errors for missing data."""

from .base import ImageDataset
from .registry import REGISTRY, get_dataset, list_datasets

__all__ = ["REGISTRY", "ImageDataset", "get_dataset", "list_datasets"]
