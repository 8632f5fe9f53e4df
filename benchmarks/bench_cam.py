"""How fast is our Grad-CAM? Ratios to a plain forward pass, and to each library, in one run.

    .venv/bin/python benchmarks/bench_cam.py [--repeats 15]

For ResNet18 (layer4) and the offline EfficientNet (bn2), batch 1 and 8 at 224 x 224, it times
interleaved rounds of: one forward pass without gradients (the floor), our ``grad_cam``, and
the Grad-CAM of torchray, pytorch-grad-cam, torch-cam and captum on the same model and input,
and prints each median as a ratio to the floor. Grad-CAM at a deep layer needs only the
forward and the short backward from the logit to that layer, so the target is: ours at most
1.1x the floor, and no slower than the fastest library.

Timings on a shared CPU are noisy; ratios taken from interleaved rounds in one run are not.
Libraries are set up once (hooks registered) outside the timed calls, as a user would.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
import warnings

import torch

import xaiutils as xu
from xaiutils.methods import grad_cam


def library_calls(model: torch.nn.Module, layer: str, target: int) -> tuple[dict, list]:
    """One callable of x per library, each a full Grad-CAM; and the functions that unhook."""
    from captum.attr import LayerGradCam
    from pytorch_grad_cam import GradCAM as PGCGradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from torchcam.methods import GradCAM as TCGradCAM
    from torchray.attribution.grad_cam import grad_cam as torchray_grad_cam

    module = xu.get_layer(model, layer)
    pgc = PGCGradCAM(model=model, target_layers=[module])
    captum = LayerGradCam(model, module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torchcam = TCGradCAM(model, target_layer=layer)

    def run_torchcam(x: torch.Tensor) -> torch.Tensor:
        scores = model(x)
        return torchcam(class_idx=target, scores=scores)[0]

    def run_pgc(x: torch.Tensor) -> object:
        out = pgc(input_tensor=x, targets=[ClassifierOutputTarget(target)] * len(x))
        model.zero_grad(set_to_none=True)  # it leaves .grad on every weight: do not count that
        return out

    calls = {
        "torchray": lambda x: torchray_grad_cam(model, x, target, saliency_layer=layer),
        "pytorch-grad-cam": run_pgc,
        "torch-cam": run_torchcam,
        "captum": lambda x: captum.attribute(x, target=target, relu_attributions=True),
    }
    cleanup = [torchcam.remove_hooks, pgc.activations_and_grads.release]
    return calls, cleanup


def bench(name: str, layer: str, batch: int, repeats: int) -> dict[str, float]:
    model = xu.load_model(name, pretrained=name == "efficientnet_lite0")
    x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    target = 1

    def floor(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(x)

    calls, cleanup = library_calls(model, layer, target)
    contenders = {"forward (floor)": floor, "ours": lambda x: grad_cam(model, x, target, layer)}
    contenders |= calls
    times: dict[str, list[float]] = {key: [] for key in contenders}
    sink = io.StringIO()
    with contextlib.redirect_stderr(sink), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fn in contenders.values():  # warm-up
            fn(x)
        for _ in range(repeats):  # interleaved rounds
            for key, fn in contenders.items():
                start = time.perf_counter()
                fn(x)
                times[key].append(time.perf_counter() - start)
    for release in cleanup:
        release()
    return {key: statistics.median(values) for key, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, medians of "
        f"{args.repeats} interleaved rounds; ratio = time / forward without gradients"
    )
    for name, layer in [("resnet18", "layer4"), ("efficientnet_lite0", "bn2")]:
        for batch in (1, 8):
            medians = bench(name, layer, batch, args.repeats)
            base = medians["forward (floor)"]
            fastest = min(v for k, v in medians.items() if k not in ("forward (floor)", "ours"))
            print(f"\n{name} at {layer}, batch {batch}: forward {base * 1e3:.1f} ms")
            for key, value in medians.items():
                print(f"  {key:18s} {value * 1e3:8.1f} ms  {value / base:5.2f}x")
            ours = medians["ours"]
            ok = ours <= 1.1 * base and ours <= fastest
            print(f"  ours / fastest library: {ours / fastest:.2f}   target met: {ok}")


if __name__ == "__main__":
    main()
