"""Capture what a layer computes, and what flows back into it, without leaving a trace.

Introduced in lesson 00; lesson 06 builds Grad-CAM on it.

Two pitfalls shape the code:

* **In-place activations.** torchvision's ResNet and VGG use ``nn.ReLU(inplace=True)`` and the
  EfficientNet ``nn.ReLU6(inplace=True)``. A module's *backward* hook on such a network raises or
  sees the wrong tensor, and a saved output can be overwritten by the next in-place ReLU (VGG16's
  ``features.28``). So we use a *forward* hook only, keep the layer's output, hand a copy on to
  the rest of the network, and take the gradient with a hook on that output tensor.
* **Hooks left behind.** Every hook is removed when the ``with`` block ends, also on error.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from functools import partial

import torch
from torch import nn

from xaiutils.validation import check_batch, check_layer, check_model

__all__ = ["Capture", "count_hooks", "feature_maps", "preserved_state"]

_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")


class Capture:
    """Context manager that records a layer's output (activation) and its gradient.

    Examples
    --------
    >>> with Capture(model, "blocks.5") as cap:          # doctest: +SKIP
    ...     logits = model(x)
    ...     logits[0, 285].backward()
    >>> cap.activation.shape, cap.gradient.shape         # doctest: +SKIP

    Parameters
    ----------
    model, layer
        The network and one of its submodules (dotted name or the module itself).
    gradient
        Also record d(output of backward)/d(activation). If nothing before the layer requires a
        gradient (a frozen model), the activation is made a leaf that does, so its gradient
        still exists; the gradient is then not propagated further back.
    record_from_here
        Switch autograd's recording on when the layer runs (it stays on after the forward; the
        caller's ``torch.no_grad()`` block restores the mode on exit). For a forward started
        under ``torch.no_grad()`` on a frozen model: nothing below the layer needs a gradient,
        so that part runs as a plain inference, without autograd's bookkeeping (about 8 % of a
        forward on the offline model), and the graph starts at the layer. Used by
        :func:`xaiutils.methods.cam.layer_pass`.

    ``activation`` is the last output recorded, and ``gradient`` is *its* gradient (from the
    latest backward through it), so the two always belong together, also after several forward
    or backward passes in one ``with`` block. A module called twice in one forward, like
    torchvision's shared ``relu`` in a ResNet block, records twice: ``activations`` lists every
    output in order, ``gradients`` every gradient in the order the backward passes delivered
    them (the last call's first).
    """

    def __init__(
        self,
        model: nn.Module,
        layer: str | nn.Module,
        *,
        gradient: bool = True,
        record_from_here: bool = False,
    ):
        self.model = check_model(model)
        self.layer = check_layer(model, layer)
        self.track_gradient = gradient
        self.record_from_here = record_from_here
        self.activations: list[torch.Tensor] = []
        self.gradients: list[torch.Tensor] = []
        self._paired: dict[int, torch.Tensor] = {}  # index in activations -> its gradient
        self._handle: torch.utils.hooks.RemovableHandle | None = None

    def _record_gradient(self, index: int, grad: torch.Tensor) -> None:
        self.gradients.append(grad)
        self._paired[index] = grad

    def _hook(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        if not isinstance(output, torch.Tensor):
            raise TypeError(
                f"{type(module).__name__} returns {type(output).__name__}, not a tensor; "
                "hook a submodule that returns a tensor"
            )
        if self.record_from_here:
            torch.set_grad_enabled(True)  # a plain call switches the mode at once
        if self.track_gradient and torch.is_grad_enabled() and not output.requires_grad:
            output = output.detach().requires_grad_()
        if output.requires_grad:
            output.register_hook(partial(self._record_gradient, len(self.activations)))
        self.activations.append(output)
        # The rest of the network works on a copy: a later in-place op cannot overwrite ours.
        return output.clone()

    def __enter__(self) -> Capture:
        self._handle = self.layer.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    @property
    def activation(self) -> torch.Tensor:
        if not self.activations:
            raise RuntimeError("the layer has not run: call the model inside the `with` block")
        return self.activations[-1]

    @property
    def gradient(self) -> torch.Tensor:
        """The gradient of :attr:`activation` (the latest output), from the latest backward."""
        latest = len(self.activations) - 1
        if latest in self._paired:
            return self._paired[latest]
        if self.activations and not self.activations[-1].requires_grad:
            raise RuntimeError(
                "no gradient: the forward pass ran without autograd (torch.no_grad() or "
                "torch.inference_mode()); run it with gradients enabled"
            )
        if self.gradients:
            raise RuntimeError(
                "no gradient yet for the latest activation: a newer forward pass ran after the "
                "last backward; call .backward() on its output"
            )
        raise RuntimeError("no gradient yet: call .backward() inside the `with` block")


def count_hooks(model: nn.Module) -> int:
    """How many forward, forward-pre and backward hooks the modules of ``model`` hold."""
    return sum(len(getattr(m, kind, {})) for m in model.modules() for kind in _HOOK_DICTS)


def feature_maps(
    model: nn.Module, x: torch.Tensor, layers: Sequence[str | nn.Module]
) -> dict[str, torch.Tensor]:
    """The outputs of several layers from one forward pass (no gradients), keyed by name.

    Keys are the names given, or for a module given as an object its dotted name in ``model``.
    The model comes back exactly as it went in (eval mode for the pass: a model in train mode
    keeps its batch-norm statistics).
    """
    check_model(model)
    check_batch(x, model=model)
    if isinstance(layers, str | nn.Module) or not isinstance(layers, Sequence):
        raise TypeError(
            f"layers must be a list of layer names or modules, got {type(layers).__name__}"
            + (f": write [{layers!r}]" if isinstance(layers, str) else "")
        )
    modules = [check_layer(model, layer) for layer in layers]
    names = {m: n for n, m in model.named_modules()}
    keys = [layer if isinstance(layer, str) else names[layer] for layer in layers]
    if len(set(keys)) != len(keys):
        raise ValueError(f"layers names the same layer twice: {keys}")
    with preserved_state(model), ExitStack() as stack, torch.no_grad():
        caps = [stack.enter_context(Capture(model, m, gradient=False)) for m in modules]
        model(x)
    missing = [key for key, cap in zip(keys, caps, strict=True) if not cap.activations]
    if missing:
        raise ValueError(f"layers {missing} did not run in the forward pass")
    return {key: cap.activation for key, cap in zip(keys, caps, strict=True)}


def _submodules(model: nn.Module) -> list[nn.Module]:
    """``list(model.modules())`` (each module once), without the generators: 3x faster."""
    found, stack, seen = [], [model], set()
    while stack:
        module = stack.pop()
        if id(module) not in seen:
            seen.add(id(module))
            found.append(module)
            children = module.__dict__["_modules"].values()
            stack.extend(c for c in reversed(children) if c is not None)
    return found


@contextmanager
def preserved_state(model: nn.Module, *, eval_mode: bool = True) -> Iterator[nn.Module]:
    """Run a block on ``model`` (ours, or a library's call) and give it back exactly as it was.

    Inside: eval mode (so batch norm uses its running statistics and changes nothing) and no
    parameter requires a gradient (so a ``backward()`` inside computes none for the weights,
    and the forward records nothing below the first tensor that requires one). On exit,
    whatever happened, everything a method or a library may change is put back: every
    module's ``training`` and ``inplace`` flags, every parameter's ``requires_grad`` and
    ``.grad``. Hooks added inside are removed; if the block ended normally, a hook left behind
    is also an error (a bug to fix, not to hide).
    """
    # Plain ``__dict__`` access keeps this cheap (about half a millisecond for the offline
    # model's 273 modules): it runs around every call of every method.
    attrs = [m.__dict__ for m in _submodules(model)]
    modes = [(d, d["training"]) for d in attrs]
    inplace = [(d, d["inplace"]) for d in attrs if isinstance(d.get("inplace"), bool)]
    unique = {id(p): p for d in attrs for p in d["_parameters"].values() if p is not None}
    params = [
        (p, p.requires_grad, p.grad, None if p.grad is None else p.grad.clone())
        for p in unique.values()
    ]
    hooks = [(d, name) for d in attrs for name in _HOOK_DICTS if name in d]
    before = {(id(d), name, key) for d, name in hooks if d[name] for key in d[name]}
    left = 0
    try:
        if eval_mode and any(training for _, training in modes):
            model.eval()
        for p, flag, _, _ in params:
            if flag:
                p.requires_grad_(False)
        yield model
    finally:
        for d, training in modes:
            d["training"] = training
        for d, flag in inplace:
            d["inplace"] = flag
        for p, flag, grad, saved in params:
            if p.requires_grad != flag:
                p.requires_grad_(flag)
            if p.grad is not grad or (grad is not None and not torch.equal(grad, saved)):
                p.grad = saved
        for d, name in hooks:
            now = d.get(name)  # a library may have replaced the dict: read it again
            for key in [key for key in now if (id(d), name, key) not in before] if now else ():
                left += 1
                for side in (name, f"{name}_with_kwargs", f"{name}_always_called"):
                    d.get(side, {}).pop(key, None)  # PyTorch keys these by the same id
    if left:
        raise RuntimeError(f"{left} hooks were left on the model (now removed)")
