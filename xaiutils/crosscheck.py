"""Call torchray, pytorch-grad-cam, torch-cam and captum, and bring their outputs to our form.

Introduced in lesson 07.

The calls themselves, ``<library>_<method>(model, x, target, layer)``, are in
:mod:`xaiutils.libraries` (and re-exported here): each returns the library's output untouched,
and runs inside :func:`restored`. A :class:`Check` in :data:`CHECKS` says what one output is
and the exact steps that make it comparable with our :func:`~xaiutils.methods.grad_cam` or
:func:`~xaiutils.methods.cam`; :func:`crosscheck` runs the checks, :func:`table` prints them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from xaiutils.libraries import (
    captum_grad_cam,
    pytorch_grad_cam_grad_cam,
    restored,
    targets_of,
    torchcam_cam,
    torchcam_grad_cam,
    torchray_grad_cam,
)
from xaiutils.methods import cam, grad_cam, upsample
from xaiutils.validation import Layer, Target
from xaiutils.viz import normalize

__all__ = [
    "CHECKS",
    "NOTES",
    "Check",
    "Result",
    "captum_grad_cam",
    "crosscheck",
    "max_diff",
    "pytorch_grad_cam_grad_cam",
    "raised",
    "restored",
    "table",
    "torchcam_cam",
    "torchcam_grad_cam",
    "torchray_grad_cam",
]


def _last_linear(model: nn.Module) -> nn.Module:
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1]


Size = tuple[int, int]


@dataclass(frozen=True)
class Check:
    """One library call, what it returns, and how it is compared with ours.

    ``run(model, x, targets, layer)`` gives the library's output; ``to_ours`` reshapes it (and
    applies the ReLU it leaves out); ``post(ours, size)`` applies to our raw map the steps the
    library applies to its own (``size``: the input's (H, W)). The text fields say the same for
    :func:`table`, with lesson 07's symbols: ``L`` our raw map, ``R`` ReLU, ``U``
    :func:`~xaiutils.methods.upsample`, ``N`` :func:`~xaiutils.viz.normalize`.
    """

    call: str
    returns: str
    relu: str
    normalised: str
    resized: str
    comparison: str
    run: Callable[[nn.Module, torch.Tensor, list[int], Layer], torch.Tensor]
    to_ours: Callable[[torch.Tensor], torch.Tensor]
    post: Callable[[torch.Tensor, Size], torch.Tensor] = lambda maps, size: maps
    method: str = "grad_cam"  # which of ours: "grad_cam" or "cam"
    tolerance: float = 1e-5


NOTES = {
    "¹": "unless relu_attributions=True",
    "²": "by default; off with normalized=False, as here",
}

CHECKS: tuple[Check, ...] = (
    Check(
        "torchray grad_cam", "(N, 1, h, w)", "yes", "no", "no", "out[:, 0] ~ L",
        torchray_grad_cam, lambda out: out[:, 0],
    ),
    Check(
        "pytorch-grad-cam GradCAM", "(N, H, W) np", "yes", "at h×w, H×W", "cv2", "out ~ N(U(L))",
        pytorch_grad_cam_grad_cam, lambda out: out,
        lambda maps, size: normalize(upsample(maps, size)),
    ),
    Check(
        "  its get_cam_image", "(N, h, w) np", "no", "no", "no", "R(out) ~ L",
        lambda *args: pytorch_grad_cam_grad_cam(*args, layer_map=True),
        lambda out: out.clamp_min(0),
    ),
    Check(
        "torch-cam GradCAM", "[(N, h, w)]", "yes", "yes²", "no", "out ~ L",
        lambda *args: torchcam_grad_cam(*args, normalized=False), lambda out: out,
    ),
    Check(
        "captum LayerGradCam", "(N, 1, h, w)", "no¹", "no", "no", "R(out[:, 0]) ~ L",
        captum_grad_cam, lambda out: out[:, 0].clamp_min(0),
    ),
    Check(
        "torch-cam CAM", "[(N, h, w)]", "no", "yes²", "no", "out ~ our cam",
        lambda m, x, t, layer: torchcam_cam(m, x, t, layer, _last_linear(m), normalized=False),
        lambda out: out,
        method="cam",
    ),
)  # fmt: skip


def max_diff(maps: torch.Tensor, ours: torch.Tensor) -> float:
    r"""The largest difference of any map, relative to that map's largest value:

    .. math::  \delta = \max_n \max_{ij} |\text{maps}_{nij} - \text{ours}_{nij}|
               \,/\, \max_{ij} |\text{ours}_{nij}|

    so that a raw map of size 1e-4 cannot pass, nor one of size 40 fail, for its scale alone.
    An all-zero map of ours counts absolute.
    """
    if maps.shape != ours.shape:
        raise ValueError(f"shapes differ: {tuple(maps.shape)} vs ours {tuple(ours.shape)}")
    diff = (maps.double() - ours.double()).abs().flatten(1).amax(dim=1)
    scale = ours.double().abs().flatten(1).amax(dim=1)
    return (diff / torch.where(scale > 0, scale, torch.ones_like(scale))).max().item()


@dataclass(frozen=True)
class Result:
    """A check's δ at ``layer``; ``scale``, the least of our maps' maxima, > 0: none all zero."""

    check: Check
    layer: str
    diff: float
    scale: float

    @property
    def ok(self) -> bool:
        return self.diff <= self.check.tolerance


def crosscheck(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    layer: str,
    checks: tuple[Check, ...] = CHECKS,
) -> list[Result]:
    """Run each check on ``x`` at ``layer``; its :func:`max_diff` to ours (computed once).

    A ``cam`` check raises where :func:`~xaiutils.methods.cam` does (no GAP + linear head).
    """
    with restored(model):
        targets = torch.as_tensor(targets_of(model, x, target))
    ours = {}
    results = []
    for check in checks:
        if check.method not in ours:
            method = grad_cam if check.method == "grad_cam" else cam
            ours[check.method] = method(model, x, targets, layer)
        theirs = check.to_ours(check.run(model, x, targets, layer))
        expected = check.post(ours[check.method], tuple(x.shape[-2:]))
        scale = ours[check.method].abs().flatten(1).amax(dim=1).min().item()
        results.append(Result(check, layer, max_diff(theirs, expected), scale))
    return results


def raised(call: Callable[[], object]) -> str:
    """``"ok"``, or the first line of the ``RuntimeError`` that ``call()`` raised (only that)."""
    try:
        call()
    except RuntimeError as err:
        return f"RuntimeError: {str(err).splitlines()[0]}"
    return "ok"


def table(columns: dict[str, list[Result]]) -> str:
    r"""One text table: a row per check, its description, and one column of δ per run.

    ``columns`` maps a column title (``"\n"`` splits it over two header lines) to the results
    of :func:`crosscheck`; a check missing from a column shows as ``-``. Footnotes follow.
    """
    checks = list(dict.fromkeys(r.check for results in columns.values() for r in results))
    head = ["call", "returns", "ReLU", "min-max", "resized", "compared", *columns]
    rows = []
    for check in checks:
        diffs = []
        for results in columns.values():
            found = [r for r in results if r.check is check]
            diffs.append(f"{found[0].diff:.1e}" if found else "-")
        text = [check.call, check.returns, check.relu, check.normalised, check.resized]
        rows.append([*text, check.comparison, *diffs])
    split = [cell.split("\n") + ["", ""] for cell in head]
    header = [[lines[i] for lines in split] for i in range(max(map(len, split)) - 2)]
    widths = [max(len(row[i]) for row in header + rows) for i in range(len(head))]

    def line(row: list[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()

    out = [line(row) for row in header]
    out.append("-" * max(len(line(row)) for row in header + rows))
    out += [line(row) for row in rows]
    used = "".join(check.relu + check.normalised for check in checks)
    out += [f"{mark} {note}" for mark, note in NOTES.items() if mark in used]
    return "\n".join(out)
