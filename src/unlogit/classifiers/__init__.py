"""Classifiers: ``NormalizedClassifier`` ([0,1] images -> logits), a registry, built-in archs, training."""

from .normalized import NormalizedClassifier
from .registry import load_classifier

__all__ = ["NormalizedClassifier", "load_classifier"]
