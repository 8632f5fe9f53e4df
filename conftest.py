"""Shared by the unit tests and nbval's notebook runs: no test and no lesson reaches the network,
and no progress bar lands in an output (xaiutils.progress).

The guard is installed in this process and, through ``PYTHONPATH`` and ``sitecustomize``, in
every Python process started from it (the notebook kernels). See tests/offline/xai_offline.py.
"""

import os
import sys
from pathlib import Path

import matplotlib

_OFFLINE = str(Path(__file__).resolve().parent / "tests" / "offline")
sys.path.insert(0, _OFFLINE)
os.environ["XAIUTILS_BLOCK_NETWORK"] = "1"
os.environ["XAIUTILS_PROGRESS"] = "0"  # no progress bars in tests or in nbval's saved outputs
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (_OFFLINE, os.environ.get("PYTHONPATH", "")) if p
)
matplotlib.use("Agg")

import xai_offline  # noqa: E402

xai_offline.block()
