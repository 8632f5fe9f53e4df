"""The command line: explain one photo with any method of the registry, or list the methods.

    python -m xaiutils explain IMAGE [--method grad-cam] [--layer bn2] [--target top1]
                               [--model efficientnet_lite0] [--out overlay.png] [--npy map.npy]
    python -m xaiutils methods

``IMAGE`` is an image file or the name of one of the course's photos (``chelsea``). The
command prints the model's top-5, writes a figure (the photo, and the map over it with its
scale) and, with ``--npy``, the map itself: ``explain``'s map at the input's resolution, before
any normalisation. Every error (a missing file, an unreadable image, an unknown method, model
or layer) is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]

# The layer each model's CAM family explains by default: its last feature map.
DEFAULT_LAYER = {
    "efficientnet_lite0": "bn2",
    "resnet18": "layer4",
    "vgg16": "features.29",
    "alexnet": "features.11",
}


class CommandError(Exception):
    """An error the user can fix; printed as one line."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m xaiutils", description="Explain a CNN's prediction on a photo."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    explain = commands.add_parser("explain", help="map the evidence for a class on one photo")
    explain.add_argument("image", help="an image file, or a course photo name (e.g. chelsea)")
    explain.add_argument("--method", default="grad-cam", help="a key of `methods` (grad-cam)")
    explain.add_argument("--layer", help="for the CAM family (default: the last feature map)")
    explain.add_argument(
        "--target", default="top1", help="top1, a class index (285) or an ImageNet class name"
    )
    explain.add_argument("--model", default="efficientnet_lite0", help="the model (offline)")
    explain.add_argument("--out", default="overlay.png", help="the figure to write (PNG)")
    explain.add_argument("--npy", help="also write the map, (H, W) float32, to this .npy file")
    commands.add_parser("methods", help="list the methods of the registry")
    return parser


def _load_image(spec: str) -> tuple[object, str]:
    """An image file, or a course photo by name: ``(PIL image, label)``."""
    from PIL import Image, UnidentifiedImageError

    import xaiutils as xu

    path = Path(spec)
    if path.is_file():
        try:
            with Image.open(path) as image:
                return xu.to_rgb(image), path.name
        except (UnidentifiedImageError, OSError) as error:
            raise CommandError(f"cannot read {spec} as an image: {error}") from None
    if spec in xu.photo_names():
        return xu.load_photo(spec), spec
    raise CommandError(
        f"no image file {spec!r} (and no course photo of that name: {', '.join(xu.photo_names())})"
    )


def _target(spec: str, logits: object) -> int:
    import xaiutils as xu

    if spec == "top1":
        return int(logits.argmax())  # type: ignore[attr-defined]
    if spec.lstrip("-").isdigit():
        return int(spec)
    if spec in xu.class_names():
        return xu.class_names().index(spec)
    raise CommandError(f"--target must be top1, a class index or an ImageNet name, got {spec!r}")


def _explain(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    import xaiutils as xu
    from xaiutils.methods import get_method

    method = get_method(args.method)  # the cheap checks first: method, image, model, layer
    image, label = _load_image(args.image)
    model = xu.load_model(args.model)
    layer = (args.layer or DEFAULT_LAYER.get(args.model)) if method.needs_layer else args.layer
    if layer is not None:
        xu.get_layer(model, layer)
    pre = xu.preprocessing(args.model)
    x = pre(image)
    with torch.no_grad():
        logits = model(x)
    names = xu.class_names()
    for p in xu.top_k(logits, 5)[0]:
        print(f"{p.prob:6.3f}  {p.index:4d}  {p.name}")
    target = _target(args.target, logits[0])
    if not 0 <= target < logits.shape[1]:
        raise CommandError(f"--target {target} is out of range (0..{logits.shape[1] - 1})")
    maps = xu.explain(model, x, method.key, target, layer)
    heat = xu.normalize(maps[0])
    prob = logits.softmax(dim=1)[0, target].item()
    fig, axes = plt.subplots(1, 2, figsize=(8.6, 4.2), width_ratios=[1, 1.08])
    axes[0].imshow(pre.pixels(image))
    axes[0].set_title(label, fontsize=10)
    shown = axes[1].imshow(xu.overlay(pre.pixels(image), heat), cmap=xu.CMAP, vmin=0, vmax=1)
    where = f" · {layer}" if layer else ""
    axes[1].set_title(f"{method.name}{where} · {names[target]} ({prob:.2f})", fontsize=10)
    fig.colorbar(shown, ax=axes[1], fraction=0.046, label="evidence (min-max per map)")
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    plt.close(fig)
    print(f"wrote {args.out}")
    if args.npy:
        np.save(args.npy, maps[0].float().numpy())
        print(f"wrote {args.npy}")


def _methods() -> None:
    from xaiutils.methods import METHODS

    print(f"{'key':17s} {'family':12s} {'layer':6s} {'lesson':7s} {'paper':41s} libraries")
    for m in METHODS.values():
        libraries = [
            f"{lib}: {name}"
            for lib, name in [
                ("pytorch-grad-cam", m.pytorch_grad_cam),
                ("torch-cam", m.torchcam),
                ("captum", m.captum),
                ("torchray", m.torchray),
            ]
            if name
        ]
        print(
            f"{m.key:17s} {m.family:12s} {'yes' if m.needs_layer else 'no':6s} {m.lesson:7s} "
            f"{m.paper:41s} {'; '.join(libraries) or '-'}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0, or 2 after a one-line error)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "methods":
            _methods()
        else:
            _explain(args)
    except (CommandError, ValueError, TypeError, FileNotFoundError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 0
