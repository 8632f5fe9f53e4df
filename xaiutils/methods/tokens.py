"""From a transformer's tokens to the feature map ``(N, K, h, w)`` the CAM family needs. Lesson 08.

Grad-CAM and its variants weight and sum the channels ``A^k`` of a feature map
``(N, K, h, w)``. A vision transformer's layers give tokens instead, so every method of
:mod:`.cam` and :mod:`.variants` that can takes ``reshape=``: a function from the layer's raw
output to ``(N, K, h, w)``. It is applied to the activation *and* to its gradient (taken with
respect to the raw output), exactly as pytorch-grad-cam applies its ``reshape_transform``
(activations_and_gradients.py). The functions here build it for two layouts, **those of
timm's models** (timm 1.0); another library's transformer may lay its tokens out otherwise:

* ViT (``timm.models.VisionTransformer``): each block, and its ``norm1``, gives tokens
  ``(N, p + h*w, D)``: ``p`` prefix tokens first (the class token, and any register tokens:
  ``model.num_prefix_tokens``), then one token per patch, row by row over the patch grid
  ``(h, w) = model.patch_embed.grid_size`` (14 x 14 for 16-pixel patches of 224 x 224).
  :func:`vit_reshape` drops the prefix and puts the ``D`` features first as channels.
* Swin (``timm.models.SwinTransformer``): its stages, blocks and a block's ``norm1`` give a
  channels-last map ``(N, h, w, C)``; :func:`swin_reshape` moves the channels first. (A
  block's ``norm2`` gives the same tokens flattened, ``(N, h*w, C)``: use
  ``vit_reshape((h, w), num_prefix_tokens=0)`` there.)

Which layer: for a ViT, pytorch-grad-cam's tutorial takes the last block's ``norm1``
(``"blocks.11.norm1"`` in ``vit_tiny_patch16_224``): the class token, the only one the head
reads (timm's default ``global_pool="token"``), gathers the patches in that block's
attention, so the patches' outputs of the last block itself get no gradient. A Swin averages
all its tokens: its last stage works.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from xaiutils.validation import positive_int

__all__ = ["Reshape", "TokenGrid", "check_reshape", "feature_map", "swin_reshape", "vit_reshape"]

Reshape = Callable[[torch.Tensor], torch.Tensor]


def check_reshape(reshape: object) -> Reshape | None:
    """``reshape`` is ``None`` or callable (a function from a layer's output to a map)."""
    if reshape is not None and not callable(reshape):
        raise TypeError(
            f"reshape must be None or a function from the layer's output to a feature map "
            f"(N, K, h, w), got {type(reshape).__name__}: for timm's ViT write "
            f"reshape=vit_reshape(model) (xaiutils.methods.tokens)"
        )
    return reshape


def feature_map(output: torch.Tensor, reshape: Reshape | None, layer: object) -> torch.Tensor:
    """``reshape(output)`` (or ``output``), checked to be a map ``(N, K, h, w)``, same ``N``."""
    if reshape is None:
        maps = output
    else:
        maps = reshape(output)
        if not isinstance(maps, torch.Tensor):
            raise TypeError(f"reshape returned a {type(maps).__name__}, not a tensor")
    if maps.ndim == 4 and maps.shape[0] == output.shape[0]:
        return maps
    shape = tuple(output.shape)
    if reshape is not None:
        raise ValueError(
            f"reshape turned layer {layer!r}'s output {shape} into {tuple(maps.shape)}; it must "
            f"return a feature map (N, K, h, w) with the batch's N = {shape[0]} first"
        )
    tokens = " tokens (N, tokens, D), as a transformer's layers do" if len(shape) == 3 else ""
    raise ValueError(
        f"layer {layer!r} gives shape {shape}{tokens}; CAM methods need a feature map "
        "(N, K, h, w): choose a convolutional layer, or pass reshape=, a function that turns "
        "this output into (N, K, h, w) (pytorch-grad-cam's reshape_transform; for timm's "
        "models: reshape=vit_reshape(model) or swin_reshape, from xaiutils.methods.tokens)"
    )


@dataclass(frozen=True)
class TokenGrid:
    """Tokens ``(N, prefix + h*w, D)`` to a map ``(N, D, h, w)``: see :func:`vit_reshape`."""

    grid: tuple[int, int]
    prefix: int = 1

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        (h, w), p = self.grid, self.prefix
        if not isinstance(tokens, torch.Tensor) or tokens.ndim != 3:
            got = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens)
            raise ValueError(f"vit_reshape takes tokens (N, L, D), got {got}")
        if tokens.shape[1] != p + h * w:
            raise ValueError(
                f"the layer gives {tokens.shape[1]} tokens, but {p} prefix tokens and a "
                f"{h} x {w} grid make {p + h * w}: give the grid of this input size (its size "
                f"over the patch size) and the model's num_prefix_tokens"
            )
        return tokens[:, p:].unflatten(1, (h, w)).permute(0, 3, 1, 2)


def vit_reshape(
    model_or_grid: nn.Module | Sequence[int], num_prefix_tokens: int | None = None
) -> TokenGrid:
    r"""The ``reshape`` for a ViT's tokens: drop the prefix, the patches to a grid, channels first.

    .. math::  A^k_{ij} = T_{p + i w + j,\, k}, \qquad 0 \le i < h,\ 0 \le j < w

    for tokens ``T`` of shape ``(N, p + h*w, D)``: ``K = D`` channels on the patch grid. The
    same as pytorch-grad-cam's ViT tutorial's ``reshape_transform``
    (``tensor[:, 1:, :].reshape(N, h, w, D)``, then channels first).

    Parameters
    ----------
    model_or_grid
        A timm ``VisionTransformer`` (its ``patch_embed.grid_size`` and ``num_prefix_tokens``
        are read), or the patch grid ``(h, w)``: input height and width over the patch size.
    num_prefix_tokens
        Tokens before the patches, dropped: default the model's, or 1 (the class token) with
        a grid.

    Returns
    -------
    TokenGrid
        A callable ``tokens -> (N, D, h, w)``; pass it as ``reshape=`` to the CAM methods
        (or as ``reshape_transform=`` to pytorch-grad-cam).
    """
    if isinstance(model_or_grid, torch.Tensor):
        raise TypeError(
            "vit_reshape builds the reshape, it is not one: write reshape=vit_reshape(model)"
        )
    if isinstance(model_or_grid, nn.Module):
        grid = getattr(getattr(model_or_grid, "patch_embed", None), "grid_size", None)
        prefix = getattr(model_or_grid, "num_prefix_tokens", None)
        if grid is None or prefix is None:
            raise ValueError(
                f"{type(model_or_grid).__name__} is not a timm VisionTransformer (it has no "
                f"patch_embed.grid_size or num_prefix_tokens): give the patch grid (h, w) and "
                f"num_prefix_tokens instead"
            )
    else:
        grid, prefix = model_or_grid, 1
        if isinstance(grid, str) or not isinstance(grid, Sequence) or len(grid) != 2:
            raise TypeError(f"the grid must be two ints (h, w), got {grid!r}")
        grid = tuple(positive_int(v, "the grid's (h, w)") for v in grid)
    if num_prefix_tokens is not None:
        prefix = positive_int(num_prefix_tokens, "num_prefix_tokens", minimum=0)
    return TokenGrid((int(grid[0]), int(grid[1])), int(prefix))


def swin_reshape(features: torch.Tensor) -> torch.Tensor:
    """The ``reshape`` for timm's Swin: channels-last ``(N, h, w, C)`` to ``(N, C, h, w)``.

    Pass the function itself: ``reshape=swin_reshape``. Without it, such an output would
    pass for a map of ``K = h`` channels of ``w x C`` cells: no error, but a wrong map (its
    shape, ``(N, w, C)``, gives it away).
    """
    if not isinstance(features, torch.Tensor) or features.ndim != 4:
        got = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features)
        hint = (
            ": flattened tokens (N, h*w, C), as a Swin block's norm2 gives, take "
            "vit_reshape((h, w), num_prefix_tokens=0)"
            if isinstance(features, torch.Tensor) and features.ndim == 3
            else ""
        )
        raise ValueError(f"swin_reshape takes a channels-last map (N, h, w, C), got {got}{hint}")
    return features.permute(0, 3, 1, 2)
