"""Progress bars for the methods that take more than about a second, when a person is watching.

Score-CAM, Ablation-CAM, occlusion, SmoothGrad, Integrated Gradients and GradientSHAP loop
over batches of passes; each takes
``progress=None | True | False``. ``None`` (the default) shows a ``tqdm.auto`` bar (a widget in
Jupyter, text in a terminal) only when someone can see it:

* never when the environment variable ``CI`` is set, or ``XAIUTILS_PROGRESS=0`` (the course's
  tests, nbval and ``make book`` set it: a bar in a saved notebook or a log is noise);
* in a Jupyter kernel, yes;
* elsewhere, only if standard error is a terminal (not a pipe, not a file).

``True`` and ``False`` decide it yourself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["progress", "wanted"]

T = TypeVar("T")


def _in_jupyter() -> bool:
    shell = sys.modules.get("IPython")
    ip = shell.get_ipython() if shell is not None else None  # type: ignore[attr-defined]
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def wanted(progress: bool | None) -> bool:
    """Whether to show a bar: ``progress`` if it is a bool, else whether someone is watching."""
    if progress is not None:
        if not isinstance(progress, bool):
            raise TypeError(f"progress must be True, False or None, got {progress!r}")
        return progress
    if os.environ.get("CI") or os.environ.get("XAIUTILS_PROGRESS", "1") == "0":
        return False
    return _in_jupyter() or sys.stderr.isatty()


def progress(
    items: Iterable[T], *, total: int, desc: str, enabled: bool | None = None
) -> Iterator[T]:
    """``items``, wrapped in a ``tqdm.auto`` bar of ``total`` steps if :func:`wanted`."""
    if not wanted(enabled):
        yield from items
        return
    from tqdm.auto import tqdm

    with tqdm(items, total=total, desc=desc, leave=False) as bar:
        yield from bar
