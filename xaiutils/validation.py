"""One place for the checks that every public function makes first: bad input never gives a
silent wrong answer.

Each check raises a ``TypeError`` (wrong kind of thing) or a ``ValueError`` (right kind, wrong
value) whose message names the argument, says what it got and how to fix it, *before* any work
is done. The methods call them first; the lessons never need to.

What the methods accept (the README's troubleshooting table says the same):

* ``model``: an ``nn.Module`` (not a TorchScript module: it cannot be hooked) whose forward
  returns logits ``(N, classes)``, one tensor;
* ``x``: a floating batch ``(N, C, H, W)``, ``N >= 1``, after the model's preprocessing, all
  values finite, in the dtype of the model's weights (float32 unless you converted the model;
  under ``torch.autocast`` the model's own casts apply);
* ``target``: ``None`` (each sample's top-1), one class index (``int``, NumPy integer or 0-d
  integer tensor), or one per sample (a sequence or 1-D integer tensor of length ``N``). A
  float is never truncated to a class: it is refused;
* ``layer``: a dotted module name (``"bn2"``) or the module itself;
* counts (``samples``, ``batch_size``, ``steps``, ``window``...): positive integers (Python or
  NumPy ints, or 0-d integer tensors; not floats, not bools).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

__all__ = [
    "FLOAT_DTYPES",
    "Layer",
    "Target",
    "check_batch",
    "check_layer",
    "check_logits",
    "check_model",
    "check_target",
    "in_range",
    "positive_int",
    "resolve_targets",
    "targets_or_top1",
]

Target = int | Sequence[int] | torch.Tensor | None
Layer = str | nn.Module

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _got(value: object) -> str:
    """A value for an error message: its type, and its repr if that is short."""
    if value is None:
        return "None"
    text, kind = repr(value), type(value).__name__
    if len(text) > 40:
        return kind
    return text if text.startswith(kind) else f"{kind} {text}"


def positive_int(value: object, name: str, *, minimum: int = 1) -> int:
    """``value`` as a Python int ``>= minimum``: a Python or NumPy int, or a 0-d integer tensor.

    Floats (even ``3.0``) and bools are refused rather than silently converted.
    """
    if isinstance(value, torch.Tensor) and value.ndim == 0 and not value.is_floating_point():
        if value.dtype != torch.bool:
            value = int(value.item())
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {_got(value)}: write {name}=int(...)")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return int(value)


def in_range(value: object, name: str, low: float, high: float = math.inf) -> float:
    """``value`` as a finite float in ``[low, high]`` (a real number, not a bool)."""
    if isinstance(value, torch.Tensor) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in [{low:g}, {high:g}], got {_got(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range
        number = math.inf
    if not low <= number <= high or not math.isfinite(number):  # NaN fails the first
        raise ValueError(f"{name} must be a finite number in [{low:g}, {high:g}], got {value!r}")
    return number


def check_model(model: object) -> nn.Module:
    """``model`` is a hookable ``nn.Module``."""
    if isinstance(model, torch.jit.ScriptModule):
        raise TypeError(
            "model is a TorchScript module (torch.jit.script or trace): it cannot be hooked or "
            "patched. Pass the original nn.Module it was made from"
        )
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {_got(model)}")
    return model


def _weight_dtype(model: nn.Module) -> torch.dtype | None:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return None


def check_batch(
    x: object, name: str = "x", *, model: nn.Module | None = None, finite: bool = True
) -> torch.Tensor:
    """``x`` is a floating batch ``(N, C, H, W)`` with ``N >= 1``, every value finite, and (if
    ``model`` is given, outside ``torch.autocast``) in the dtype of the model's weights."""
    if not isinstance(x, torch.Tensor):
        hint = " (convert it: torch.as_tensor(x))" if isinstance(x, np.ndarray) else ""
        raise TypeError(
            f"{name} must be a torch.Tensor batch (N, C, H, W), got {type(x).__name__}{hint}. "
            f"For a photo, use xu.preprocessing()(photo)"
        )
    if x.ndim != 4:
        hint = f" Add the batch axis: {name}.unsqueeze(0)." if x.ndim == 3 else ""
        raise ValueError(f"{name} must be a batch (N, C, H, W), got shape {tuple(x.shape)}.{hint}")
    if 0 in x.shape:
        raise ValueError(f"{name} has shape {tuple(x.shape)}: every axis needs at least one entry")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} has dtype {x.dtype}; the methods take a floating batch after the model's "
            f"preprocessing: use xu.preprocessing()(photo), or {name}.float() if it already is"
        )
    if model is not None and not torch.is_autocast_enabled(x.device.type):
        expected = _weight_dtype(model)
        if expected is not None and x.dtype != expected:
            raise TypeError(
                f"{name} is {x.dtype} but the model's weights are {expected}: convert one of "
                f"them ({name}.to({expected}) or model.to({x.dtype}))"
            )
    if finite and not bool(torch.isfinite(x).all()):
        nan, inf = int(torch.isnan(x).sum()), int(torch.isinf(x).sum())
        raise ValueError(
            f"{name} has {nan} NaN and {inf} infinite values: every map would be NaN or "
            f"meaningless. Find where they come from (torch.isfinite({name})), or replace them "
            f"(torch.nan_to_num)"
        )
    return x


def check_layer(model: nn.Module, layer: object) -> nn.Module:
    """``layer`` names a submodule of ``model`` (dotted name) or is one; returns the module.

    The checks live in :func:`xaiutils.models.get_layer`: a ``TypeError`` for anything but a
    str or a module, a :class:`~xaiutils.models.LayerNotFoundError` (a ``ValueError``) with
    the closest names for a name the model does not have.
    """
    from xaiutils.models import get_layer

    return get_layer(model, layer)  # type: ignore[arg-type]


def check_target(target: object, n: int, device: torch.device | str = "cpu") -> torch.Tensor | None:
    """``target`` as one class index per sample, ``(n,)`` long; ``None`` stays ``None``.

    Accepted: one int (Python, NumPy, or a 0-d integer tensor) for every sample, or one per
    sample (a sequence of ints or a 1-D integer tensor or array of length ``n``). Floats are
    refused, never truncated (``2.7`` is not class 2).
    """
    if target is None:
        return None
    if isinstance(target, str | bytes):
        raise TypeError(
            f"target must be a class index (int), got the string {target!r}: find the index "
            f"with xu.class_names().index(name)"
        )
    if isinstance(target, bool):
        raise TypeError(f"target must be a class index (int), got {target!r}")
    if isinstance(target, torch.Tensor):
        t = target
    elif isinstance(target, numbers.Integral | np.ndarray):
        t = torch.as_tensor(np.asarray(target))
    elif isinstance(target, numbers.Number):
        t = torch.as_tensor(target)
    elif isinstance(target, Sequence):
        # A list of 0-d integer tensors (e.g. [logits[i].argmax() for i in ...]) is a list of ints.
        values = [
            v.item()
            if isinstance(v, torch.Tensor) and v.ndim == 0 and not v.is_floating_point()
            and v.dtype != torch.bool else v
            for v in target
        ]  # fmt: skip
        if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in values):
            bad = next(v for v in values if isinstance(v, bool) or
                       not isinstance(v, numbers.Integral))  # fmt: skip
            raise TypeError(f"target must hold class indices (ints), but holds {_got(bad)}")
        t = torch.as_tensor(values, dtype=torch.long) if values else torch.zeros(0, dtype=int)
    else:
        raise TypeError(
            f"target must be None, a class index, or one per sample, got {type(target).__name__}"
        )
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise TypeError(
            f"target must hold class indices (integers), got dtype {t.dtype}: a float is never "
            f"rounded to a class. Convert it yourself if you mean it (target.long())"
        )
    if t.ndim == 0:
        t = t.expand(n)
    if t.ndim != 1:
        raise ValueError(
            f"target has shape {tuple(t.shape)}: give a 1-D tensor of {n} class indices "
            f"(e.g. target.flatten()), or one int"
        )
    if t.shape[0] != n:
        raise ValueError(f"{n} samples but {t.shape[0]} targets: give one per sample, or one int")
    t = t.to(device=device, dtype=torch.long)
    # A tensor made under torch.inference_mode() cannot enter autograd: a normal copy (the
    # gradient methods switch inference mode off for their own pass).
    return t.clone() if t.is_inference() and not torch.is_inference_mode_enabled() else t


def check_logits(out: object, n: int) -> torch.Tensor:
    """The model's output is one logits tensor ``(n, classes)``."""
    if not isinstance(out, torch.Tensor):
        raise TypeError(
            f"the model returned a {type(out).__name__}, not a logits tensor (N, classes): wrap "
            f"it so that forward returns only the logits (e.g. model(x)[0] or model(x)['logits'])"
        )
    if out.ndim != 2 or out.shape[0] != n:
        hint = " (one logit per sample: return it as (N, 1), out.unsqueeze(1))" if (
            out.ndim == 1) else ""  # fmt: skip
        raise ValueError(
            f"the model returned shape {tuple(out.shape)} for {n} samples; the methods need "
            f"logits (N, classes){hint}"
        )
    return out


def resolve_targets(logits: torch.Tensor, target: Target) -> torch.Tensor:
    """One class index per sample, ``(N,)`` long, checked against the logits.

    ``None`` picks each sample's top-1; an int is used for every sample. The target logits
    must be finite (with ``None``: every logit), else no map can mean anything.
    """
    logits = check_logits(logits, len(logits))
    n, classes = logits.shape
    t = check_target(target, n, logits.device)
    if t is None:
        rows = ~torch.isfinite(logits).all(dim=1)
        t = logits.argmax(dim=1)
    else:
        bad = t[(t < 0) | (t >= classes)]
        if bad.numel():
            raise ValueError(
                f"target class {bad[0].item()} is out of range: the model has {classes} classes "
                f"(0..{classes - 1})"
            )
        rows = ~torch.isfinite(logits.gather(1, t[:, None])[:, 0])
    if rows.any():
        i = int(rows.nonzero()[0, 0])
        raise ValueError(
            f"the model's logits for sample {i} are not finite ({logits[i].flatten()[:3].tolist()}"
            f"...): no explanation of a NaN or infinite score means anything. Check the model's "
            f"weights and its input"
        )
    return t


def targets_or_top1(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    """``target`` as ``(N,)`` class indices; ``None``: each sample's top-1, from one forward pass
    without gradients. For methods that need the classes before their own pass; run it inside
    :func:`~xaiutils.hooks.preserved_state` (eval mode)."""
    t = check_target(target, len(x), x.device)
    if t is None:
        with torch.no_grad():
            t = resolve_targets(model(x), None)
    return t
