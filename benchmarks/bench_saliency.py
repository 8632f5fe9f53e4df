"""How fast are our occlusion and SmoothGrad? Ratios to their floors, and to captum, in one run.

    .venv/bin/python benchmarks/bench_saliency.py [--repeats 5] [--batch-sizes 1 4 8 16 32]

All on the offline EfficientNet-Lite0 with chelsea at 224 x 224, target Egyptian cat (285).

* **Occlusion**, a 32 px window moved by 16 px: 13 x 13 = 169 occluded copies. The floor is the
  time of 169 plain single-image forward passes without gradients (the work that cannot be
  avoided); captum's ``Occlusion`` (same window, stride and baseline) is timed with each
  ``perturbations_per_eval`` of ``--captum-batches`` and its best is kept. Target: ours at most
  1.1x the floor and no slower than captum's best.
* **SmoothGrad**, 25 noisy samples, against its floor: 25 single forward + backward passes to
  the input (parameters frozen, as our methods do). Target: at most 1.1x the floor. It uses
  ``xaiutils.methods.gradients.smoothgrad``; if that module is not there, the part is skipped
  with a printed line.
* ``--batch-sizes``: also time our occlusion with each of these batch sizes against the same
  floor: the measurement behind ``occlusion``'s default ``batch_size``.

Timings on a shared CPU are noisy (up to 4x between minutes, far more when other processes
compete for the two cores); ratios taken from interleaved rounds in one run are less so. Each
figure is the **minimum** over ``--repeats`` rounds: other processes can only add time, so the
fastest round is the one least disturbed (``--median`` reports medians instead).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
from collections.abc import Callable

import torch
from _timing import interleaved

import xaiutils as xu
from xaiutils.methods.occlusion import DEFAULT_BATCH_SIZE, occlusion

WINDOW, STRIDE, TARGET, SAMPLES = 32, 16, 285, 25


def stat_of(times: dict[str, list[float]]) -> dict[str, float]:
    return {key: STAT(values) for key, values in times.items()}


STAT: Callable[[list[float]], float] = min


def report(values: dict[str, float], floor: str) -> None:
    base = values[floor]
    for key, value in values.items():
        print(f"  {key:36s} {value * 1e3:8.0f} ms  {value / base:5.2f}x")


def occlusion_floor(model: torch.nn.Module, x: torch.Tensor, copies: int) -> Callable[[], None]:
    def run() -> None:
        with torch.no_grad():
            for _ in range(copies):
                model(x)

    return run


def bench_occlusion(model, x, repeats: int, captum_batches: list[int]) -> bool:
    from captum.attr import Occlusion

    result = occlusion(model, x, TARGET, window=WINDOW, stride=STRIDE)
    copies = result.prob[0].numel()
    captum = Occlusion(model)

    def run_captum(p: int) -> Callable[[], object]:
        return lambda: captum.attribute(
            x,
            sliding_window_shapes=(3, WINDOW, WINDOW),
            strides=(3, STRIDE, STRIDE),
            baselines=0.0,
            target=TARGET,
            perturbations_per_eval=p,
        )

    contenders = {
        f"floor: {copies} forwards": occlusion_floor(model, x, copies),
        f"ours (batch_size={DEFAULT_BATCH_SIZE})": lambda: occlusion(
            model, x, TARGET, window=WINDOW, stride=STRIDE
        ),
    }
    contenders |= {f"captum (perturbations_per_eval={p})": run_captum(p) for p in captum_batches}
    print(f"\nOcclusion: window {WINDOW}, stride {STRIDE}, 224 x 224 -> {copies} copies")
    medians = stat_of(interleaved(contenders, repeats))
    report(medians, f"floor: {copies} forwards")
    floor = medians[f"floor: {copies} forwards"]
    ours = medians[f"ours (batch_size={DEFAULT_BATCH_SIZE})"]
    best_key = min((k for k in medians if k.startswith("captum")), key=medians.get)
    ok = ours <= 1.1 * floor and ours <= medians[best_key]
    print(f"  ours / floor: {ours / floor:.2f} (target <= 1.10)")
    print(f"  ours / captum's best ({best_key}): {ours / medians[best_key]:.2f} (target <= 1.00)")
    print(f"  occlusion targets met: {ok}")
    return ok


def bench_batch_sizes(model, x, repeats: int, sizes: list[int]) -> None:
    copies = len(range(0, 224 - WINDOW + 1, STRIDE)) ** 2
    contenders = {f"floor: {copies} forwards": occlusion_floor(model, x, copies)}
    for b in sizes:
        contenders[f"ours, batch_size={b}"] = lambda b=b: occlusion(
            model, x, TARGET, window=WINDOW, stride=STRIDE, batch_size=b
        )
    print(f"\nOcclusion batch size (default {DEFAULT_BATCH_SIZE}), ratio to the floor:")
    report(stat_of(interleaved(contenders, repeats)), f"floor: {copies} forwards")


def bench_smoothgrad(model, x, repeats: int) -> bool | None:
    if importlib.util.find_spec("xaiutils.methods.gradients") is None:
        print("\nSmoothGrad: skipped (xaiutils.methods.gradients is not there yet)")
        return None
    from xaiutils.methods.gradients import smoothgrad

    def floor() -> None:
        for _ in range(SAMPLES):
            xi = x.detach().clone().requires_grad_()
            logits = model(xi)
            torch.autograd.grad(logits[0, TARGET], xi)

    contenders = {
        f"floor: {SAMPLES} single backwards": floor,
        f"ours smoothgrad(samples={SAMPLES})": lambda: smoothgrad(
            model, x, TARGET, samples=SAMPLES
        ),
    }
    print(f"\nSmoothGrad: {SAMPLES} samples")
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:  # the floor, like our methods, computes no gradient for the weights
        p.requires_grad_(False)
    try:
        medians = stat_of(interleaved(contenders, repeats))
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
    report(medians, f"floor: {SAMPLES} single backwards")
    ratio = (
        medians[f"ours smoothgrad(samples={SAMPLES})"]
        / medians[f"floor: {SAMPLES} single backwards"]
    )
    print(f"  ours / floor: {ratio:.2f} (target <= 1.10)   target met: {ratio <= 1.1}")
    return ratio <= 1.1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--captum-batches", type=int, nargs="+", default=[1, 8, 16, 64])
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=[])
    parser.add_argument("--skip", choices=["occlusion", "smoothgrad"], nargs="*", default=[])
    parser.add_argument("--median", action="store_true", help="medians instead of minima")
    args = parser.parse_args()
    global STAT
    STAT = statistics.median if args.median else min
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{'medians' if args.median else 'minima'} of {args.repeats} interleaved rounds; "
        "ratio = time / floor"
    )
    model = xu.load_model()
    x = xu.preprocessing()(xu.load_photo("chelsea"))
    if args.batch_sizes:
        bench_batch_sizes(model, x, args.repeats, args.batch_sizes)
    if "occlusion" not in args.skip:
        bench_occlusion(model, x, args.repeats, args.captum_batches)
    if "smoothgrad" not in args.skip:
        bench_smoothgrad(model, x, args.repeats)


if __name__ == "__main__":
    main()
