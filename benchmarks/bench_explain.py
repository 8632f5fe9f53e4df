"""What does the front door cost? `explain` against the method and its named step, by hand.

    .venv/bin/python benchmarks/bench_explain.py [--repeats 30]

``explain(model, x, key, target, layer)`` looks the method up in the registry, checks its
arguments, calls the method (which checks them again) and applies the method's named step to
the input's pixels. The direct call is the method plus that same step, written by hand. Target
(issue 13): ``explain`` adds at most 5 % to the method's own time. Interleaved rounds on the
offline EfficientNet-Lite0 at 224 x 224, batch 1, for the cheapest methods, where a fixed
overhead weighs most: Grad-CAM at ``bn2`` (about one forward), Eigen-CAM (one forward) and the
vanilla gradient (one forward and one backward to the input).
"""

from __future__ import annotations

import argparse

import torch
from _timing import interleaved, noise, paired, table, verdict

import xaiutils as xu
from xaiutils.methods import eigen_cam, explain, grad_cam, upsample, vanilla_gradient

TARGET = 1.05


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = xu.load_model()
    x = xu.preprocessing()(xu.load_photo("chelsea"))
    size = (224, 224)
    cases = {
        "Grad-CAM, bn2": (
            lambda: upsample(grad_cam(model, x, 285, "bn2"), size),
            lambda: explain(model, x, "grad-cam", 285, "bn2"),
        ),
        "Eigen-CAM, bn2": (
            lambda: upsample(eigen_cam(model, x, 285, "bn2"), size),
            lambda: explain(model, x, "eigen-cam", 285, "bn2"),
        ),
        "vanilla gradient": (
            lambda: vanilla_gradient(model, x, 285).abs().sum(dim=1),
            lambda: explain(model, x, "vanilla-gradient", 285),
        ),
    }
    print(f"explain against the direct call, {args.repeats} interleaved rounds, batch 1")
    for label, (direct, front_door) in cases.items():
        assert torch.equal(direct(), front_door())  # the same maps
        times = interleaved({"direct": direct, "explain": front_door}, args.repeats, again="direct")
        print(f"\n{label}")
        table(times, "direct")
        ratio, tolerance = paired(times, "explain", "direct"), noise(times, "direct")
        print(
            f"  explain / direct = {ratio:.3f} (target <= {TARGET}; noise {tolerance:.3f}): "
            f"{verdict(ratio, TARGET, tolerance)}"
        )


if __name__ == "__main__":
    main()
