"""Reproducibility: one call seeds every random number generator the course uses.

Introduced in lesson 00; every lesson's setup cell calls ``set_seed(0)``.
"""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["set_seed"]


def set_seed(seed: int = 0) -> None:
    """Seed Python's ``random``, NumPy's global generator and PyTorch (CPU and any GPU)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the legacy global generator is what lessons share
    torch.manual_seed(seed)
