"""How fast are our Grad-CAM variants? Ratios to each library's version, and to a floor, in one run.

    .venv/bin/python benchmarks/bench_variants.py [--quick] [--repeats 3] [--only "bn2 batch 1"]

For each configuration it times interleaved rounds of our function, pytorch-grad-cam's and
torch-cam's version of it (where the library has one) on the same model, input, layer and
classes, and prints each median and its ratio to the fastest library. Targets (issue 7):
ours no slower than the fastest library, and Score-CAM within 1.15x of its floor.

Floors, the cost that no implementation can avoid:

* Score-CAM: one plain forward (no gradients) per channel, ``K`` per sample, in batches of
  32 ("K forwards"). Ours does less: the channels that are constant (all zero after a ReLU)
  all give the same zero mask, scored once, and its masked images run as channels-last
  batches, which oneDNN's convolutions take faster on this CPU. So it is also compared with
  the floor of the forwards it does make ("its forwards": one channels-last forward per
  varying channel, plus one).
* Ablation-CAM: the same ``K`` plain forwards, which is what pytorch-grad-cam runs. Ours only
  runs the part of the network *above* the layer for each ablated copy, so its own floor is one
  forward plus ``K`` rows through the top ("K tops"), timed with a hand-written top.

Libraries are set up once (hooks registered) outside the timed calls, as a user would. Timings
on a shared CPU are noisy; ratios taken from interleaved rounds in one run are not.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from _timing import interleaved, medians, noise, paired, verdict

import xaiutils as xu
from xaiutils.methods import METHODS

# Grad-CAM's variants and their counterparts in the two libraries, from the registry.
VARIANTS = [m for m in METHODS.values() if m.family == "cam" and m.key not in ("cam", "grad-cam")]
OURS = {m.name: m.function for m in VARIANTS}
PGC = {m.name: m.pytorch_grad_cam for m in VARIANTS if m.pytorch_grad_cam}
TORCHCAM = {m.name: m.torchcam for m in VARIANTS if m.torchcam}
BATCH = 32  # the forwards of Score-CAM and Ablation-CAM, ours and the libraries'


def top_of(model: torch.nn.Module, name: str, layer: str) -> Callable:
    """The part of the network above ``layer``, written by hand: activations -> logits."""
    if name == "resnet18":
        rest = [model.layer2, model.layer3, model.layer4][int(layer[-1]) - 1 :]
        return lambda a: model.fc(torch.flatten(model.avgpool(torch.nn.Sequential(*rest)(a)), 1))
    if layer == "bn2":
        return model.forward_head
    start = int(layer.split(".")[1]) + 1  # "blocks.3" -> blocks 4, 5, 6, then the head
    return lambda a: model.forward_head(model.bn2(model.conv_head(model.blocks[start:](a))))


def library_calls(model, name: str, layer: str, x, targets) -> tuple[dict, list]:
    """One callable per library that has ``name``; and the functions that unhook."""
    import pytorch_grad_cam
    import torchcam.methods
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    calls, cleanup = {}, []
    pgc = getattr(pytorch_grad_cam, PGC[name])(
        model=model, target_layers=[xu.get_layer(model, layer)]
    )
    pgc.batch_size = BATCH  # read by ScoreCAM (16 by default) and AblationCAM (32)
    pgc_targets = [ClassifierOutputTarget(int(t)) for t in targets]

    def run_pgc(x):
        out = pgc(input_tensor=x, targets=pgc_targets)
        model.zero_grad(set_to_none=True)  # it leaves .grad on every weight: do not count that
        return out

    calls["pytorch-grad-cam"] = run_pgc
    cleanup.append(pgc.activations_and_grads.release)
    if name in TORCHCAM:
        kwargs = {"batch_size": BATCH} if name == "Score-CAM" else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tc = getattr(torchcam.methods, TORCHCAM[name])(model, target_layer=layer, **kwargs)
        classes = [int(t) for t in targets]

        def run_torchcam(x):
            if name == "Score-CAM":
                with torch.no_grad():
                    model(x)
                return tc(class_idx=classes)
            return tc(class_idx=classes, scores=model(x))

        calls["torch-cam"] = run_torchcam
        cleanup.append(tc.remove_hooks)
    return calls, cleanup


def floors(model, arch: str, name: str, layer: str, x, targets) -> dict[str, Callable]:
    """The floors of Score-CAM and Ablation-CAM (see the module's docstring)."""
    a = xu.feature_maps(model, x, [layer])[layer]
    n, k = a.shape[:2]
    rows = torch.randn(BATCH, *x.shape[1:], generator=torch.Generator().manual_seed(1))

    def forwards(count: int, images: torch.Tensor = rows) -> None:
        with torch.inference_mode():
            for start in range(0, count, BATCH):
                model(images[: min(BATCH, count - start)])

    out = {"K forwards": lambda x: forwards(n * k)}
    if name == "Score-CAM":
        flat = a.flatten(2)
        varying = int((flat.amax(2) != flat.amin(2)).sum())
        last = rows.contiguous(memory_format=torch.channels_last)
        out["its forwards"] = lambda x: forwards(varying + 1, last)
    if name == "Ablation-CAM":
        top = top_of(model, arch, layer)
        with torch.no_grad():
            assert torch.allclose(top(a), model(x), atol=1e-4), "the hand-written top is wrong"

        def tops(x):
            with torch.inference_mode():
                model(x)
                for i in range(n):
                    copies = a[i].expand(BATCH, -1, -1, -1)
                    for start in range(0, k, BATCH):
                        top(copies[: min(BATCH, k - start)])

        out["K tops"] = tops
    return out


def bench(
    arch: str, layer: str, batch: int, names: list[str], size: int, repeats: int, fast_repeats: int
) -> None:
    model = xu.load_model(arch, pretrained=arch == "efficientnet_lite0")
    photos = ["chelsea", "coffee", "china", "camera", "grace_hopper", "motorcycle", "flower"]
    x = xu.preprocessing(arch)([xu.load_photo(p) for p in (photos * 2)[:batch]])
    x = F.interpolate(x, size=(size, size), mode="bilinear") if size != 224 else x
    with torch.no_grad():
        targets = model(x).argmax(1)
    h, w = xu.feature_maps(model, x[:1], [layer])[layer].shape[2:]
    k = xu.feature_maps(model, x[:1], [layer])[layer].shape[1]
    print(f"\n{arch} at {layer} ({k} x {h} x {w}), batch {batch}, {size} x {size}")
    for name in names:
        kwargs = {"batch_size": BATCH} if name in ("Score-CAM", "Ablation-CAM") else {}
        contenders = {"ours": lambda x, f=OURS[name], kw=kwargs: f(model, x, targets, layer, **kw)}
        calls, cleanup = library_calls(model, name, layer, x, targets)
        contenders |= calls
        if name in ("Score-CAM", "Ablation-CAM"):
            contenders |= floors(model, arch, name, layer, x, targets)
        perturbation = name in ("Score-CAM", "Ablation-CAM")
        if perturbation:  # warm-up: one batch of each memory layout, not a whole slow call
            with torch.inference_mode():
                warm = torch.randn(BATCH, *x.shape[1:])
                model(warm), model(warm.contiguous(memory_format=torch.channels_last))
        calls_of_x = {key: lambda fn=fn: fn(x) for key, fn in contenders.items()}
        rounds = repeats if perturbation else fast_repeats
        times = interleaved(calls_of_x, rounds, again="ours", warmup=not perturbation)
        for release in cleanup:
            release()
        med = medians(times)
        libs = [key for key in ("pytorch-grad-cam", "torch-cam") if key in med]
        fastest = min(libs, key=med.get)
        line = "  ".join(f"{key} {v * 1e3:.0f} ms" for key, v in med.items())
        to_fastest, tolerance = paired(times, "ours", fastest), noise(times, "ours")
        ratios = [f"ours / fastest library ({fastest}) {to_fastest:.2f}"]
        ratios += [f"ours / {key} {paired(times, 'ours', key):.2f}" for key in med
                   if key not in libs and not key.startswith("ours")]  # fmt: skip
        verdicts = [f"no slower than {fastest}: {verdict(to_fastest, 1.0, tolerance)}"]
        if name == "Score-CAM":
            to_floor = paired(times, "ours", "K forwards")
            verdicts.append(f"within 1.15x of K forwards: {verdict(to_floor, 1.15, tolerance)}")
        print(f"  {name:12s} {line}\n  {'':12s} {', '.join(ratios)}")
        print(f"  {'':12s} {'; '.join(verdicts)} (noise {tolerance:.3f}, {rounds} rounds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small inputs, a smoke run")
    parser.add_argument("--repeats", type=int, default=3, help="rounds for Score-/Ablation-CAM")
    parser.add_argument("--fast-repeats", type=int, default=15, help="rounds for the others")
    only = (
        'run only the configurations whose "model layer batch N" contains this, e.g. "bn2 batch 1"'
    )
    parser.add_argument("--only", default="", help=only)
    parser.add_argument("--methods", nargs="*", help='only these, e.g. "Eigen-CAM" "Score-CAM"')
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; medians of interleaved "
        "rounds, ratios are medians of each round's ratio"
    )
    gradient = ["Grad-CAM++", "XGrad-CAM", "HiResCAM", "Layer-CAM", "Eigen-CAM"]
    perturbation = ["Score-CAM", "Ablation-CAM"]
    if args.quick:
        configs = [
            ("resnet18", "layer4", 1, gradient, 112),
            ("resnet18", "layer4", 8, gradient, 112),
            ("resnet18", "layer2", 1, perturbation, 64),
            ("resnet18", "layer2", 8, perturbation, 64),
        ]
    else:
        configs = [
            ("efficientnet_lite0", "bn2", 1, gradient + perturbation, 224),
            ("efficientnet_lite0", "bn2", 8, gradient, 224),
            ("efficientnet_lite0", "blocks.3", 8, perturbation, 224),
            ("resnet18", "layer4", 1, gradient, 224),
            ("resnet18", "layer4", 8, gradient, 224),
            ("resnet18", "layer3", 1, perturbation, 224),
        ]
    for arch, layer, batch, names, size in configs:
        if args.only in f"{arch} {layer} batch {batch}":
            names = [n for n in names if not args.methods or n in args.methods]
            if names:
                bench(arch, layer, batch, names, size, args.repeats, args.fast_repeats)


if __name__ == "__main__":
    main()
