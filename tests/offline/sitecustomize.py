"""Loaded by every Python process that has this folder on its PYTHONPATH (see xai_offline)."""

import os

if os.environ.get("XAIUTILS_BLOCK_NETWORK") == "1":
    import xai_offline

    xai_offline.block()
