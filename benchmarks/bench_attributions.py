"""How fast are Integrated Gradients, RISE and LIME? Ratios to floors and libraries, in one run.

    .venv/bin/python benchmarks/bench_attributions.py [--quick] [--repeats 3] [--ig-repeats 3]

All on the offline EfficientNet-Lite0 with chelsea at 224 x 224, batch 1, target Egyptian cat
(285). First each method is checked against its library on the same inputs (as in
``tests/test_attributions.py`` and ``tests/test_blackbox.py``: the same maps), then timed.

* **Forward batch size.** Plain forwards without gradients of ``--probe-copies`` masked copies
  at each of ``--batch-sizes``; the fastest per image, ``b``, is "the best batch size" of the
  RISE and LIME parts below: their floor, ours, TorchRay and captum all run ``b`` per forward.
* **Integrated Gradients**, 32 and 64 steps (Gauss-Legendre, zero baseline). The floor: that
  many forward and backward passes to the input, ``model(xb)`` and ``torch.autograd.grad`` on
  batches of the (precomputed) path points, parameters frozen, no method around it; ours
  (``batch_size``) and captum's ``IntegratedGradients`` (``internal_batch_size``), each at
  every size of ``--ig-batch-sizes`` (up to the steps). Targets: ours at its best at most 1.1x
  the floor at its best, and no slower than captum at its best.
* **RISE**, 2,000 masks. The floor: 2,000 plain forwards of masked copies, ``b`` at a time,
  under ``no_grad``; ours with ``batch_size=b``. TorchRay's ``rise`` with ``num_masks=2000``
  (not its default 8,000), at ``batch_size`` ``b`` and its default 32 (it adds a 1000-class
  map of 200 MB per batch, so it likes larger batches), the faster kept; fed our masks
  through ``filter_masks`` and the model wrapped to return ``logit(softmax)``, as the test
  does: the same map. Its masks are drawn before the timed call, so TorchRay is not charged
  for drawing them; ours draws its own inside. Targets: at most 1.1x the floor, no slower
  than TorchRay's best.
* **LIME**, 1,000 samples. captum's ``Lime`` with the same superpixels (``superpixels(x)``,
  segmented once, outside the timed calls, for both), the same samples (ours, given through
  its ``perturb_func``), the same kernel and ridge, ``perturbations_per_eval=b``. Target: no
  slower than captum.

Timings on a shared CPU are noisy; ratios taken from interleaved rounds in one run far less so
(``_timing.py``: medians, each ratio the median of the rounds' ratios, ours timed twice per
round to measure the noise; "met within noise" is over the target by less than that). A RISE
call takes 30 s on an idle machine (minutes under load), a LIME call 15 s, so they get few
rounds (``--repeats``), and no part has a warm-up round (the checks warm the model and the
libraries up; a slow first call is one round's ratio, outvoted by the others). The whole run
takes about 20 minutes idle, well over an hour on a busy machine; ``--quick`` (200 masks, 100
samples, 32 steps, 2 rounds) is a smoke run of a few minutes. ``--skip rise lime`` times
Integrated Gradients alone (a few minutes).
"""

from __future__ import annotations

import argparse
import inspect
import os
import time
from collections.abc import Callable

import numpy as np
import torch
from _timing import AGAIN, interleaved, medians, noise, paired, table, verdict
from torch import nn

import xaiutils as xu
from xaiutils.blackbox_libraries import SoftmaxAsSigmoid  # logit(softmax), for TorchRay
from xaiutils.methods.attributions import integrated_gradients
from xaiutils.methods.lime import _samples, lime, superpixels
from xaiutils.methods.occlusion import DEFAULT_BATCH_SIZE
from xaiutils.methods.rise import rise, rise_masks

TARGET, SIZE = 285, (224, 224)
TORCHRAY_BATCH = 32  # TorchRay's default batch_size for rise
Results = list[tuple[str, float, float, float]]  # (what, ratio, target, noise)


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest difference, as a fraction of the larger map's largest magnitude."""
    a, b = a.double(), b.double()
    return float((a - b).abs().max() / max(a.abs().max(), b.abs().max()))


def frozen(model: nn.Module, fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` run with the parameters frozen (as our methods run), then given back."""
    params = [p for p in model.parameters() if p.requires_grad]

    def run() -> object:
        for p in params:
            p.requires_grad_(False)
        try:
            return fn()
        finally:
            for p in params:
                p.requires_grad_(True)

    return run


def forwards(model: nn.Module, batch: torch.Tensor, total: int) -> Callable[[], None]:
    """``total`` plain forwards without gradients, ``len(batch)`` at a time."""
    full, rest = divmod(total, len(batch))

    def run() -> None:
        with torch.no_grad():
            for _ in range(full):
                model(batch)
            if rest:
                model(batch[:rest])

    return run


def best(values: dict[str, float], prefix: str) -> str:
    """The fastest of the contenders named ``prefix...`` (not a second timing of one)."""
    keys = [k for k in values if k.startswith(prefix) and not k.endswith(AGAIN)]
    return min(keys, key=values.__getitem__)


def judge(
    results: Results, times: dict[str, list[float]], what: str, a: str, b: str, target: float,
    again: str = "ours",
) -> None:  # fmt: skip
    """Print and keep ``a / b`` against ``target``, the noise measured on ``again``."""
    ratio, tolerance = paired(times, a, b), noise(times, again)
    results.append((what, ratio, target, tolerance))
    print(
        f"  {what}: {ratio:.2f} (target <= {target:.2f}; noise {tolerance:.3f}): "
        f"{verdict(ratio, target, tolerance)}"
    )


# --- the libraries, called as the tests call them --------------------------------------------


def torchray_rise(model, x, masks: torch.Tensor, batch_size: int) -> Callable[[], torch.Tensor]:
    """TorchRay's RISE with ``masks`` ``(M, H, W)``; divided by p = 0.5, it is our map."""
    from torchray.attribution.rise import rise as tr_rise

    wrapped, filters = SoftmaxAsSigmoid(model), masks[:, None]

    def run() -> torch.Tensor:
        with xu.preserved_state(model), torch.no_grad():
            sal = tr_rise(wrapped, x, num_masks=len(masks), batch_size=batch_size,
                          filter_masks=filters)  # fmt: skip
        return sal[:, TARGET]

    return run


def captum_lime(model, x, labels, samples: int, per_eval: int) -> Callable[[], torch.Tensor]:
    """captum's ``Lime`` with our samples, LIME's kernel on the binary vectors, ``Ridge(1)``."""
    from captum._utils.models.linear_model import SkLearnRidge
    from captum.attr import Lime
    from captum.attr._core.lime import get_exp_kernel_similarity_function

    kernel = get_exp_kernel_similarity_function("cosine", 0.25)
    draws = _samples(samples, int(labels.max()) + 1, seed=0)

    def similarity(original, perturbed, interpretable, **kwargs):
        return kernel(torch.ones_like(interpretable), interpretable, None)

    def perturb(original, **kwargs):  # our samples, in our order
        yield from (z[None].long() for z in draws)

    explainer = Lime(lambda t: model(t).softmax(1), SkLearnRidge(alpha=1.0), similarity, perturb)

    def run() -> torch.Tensor:
        with xu.preserved_state(model), torch.no_grad():
            attr = explainer.attribute(
                x, baselines=0.0, target=TARGET, n_samples=samples,
                feature_mask=labels[None, None], perturbations_per_eval=per_eval,
            )  # fmt: skip
        return attr[:, 0]

    return run


def captum_ig(model, x, steps: int, batch: int) -> Callable[[], torch.Tensor]:
    from captum.attr import IntegratedGradients

    ig, baseline = IntegratedGradients(model), torch.zeros_like(x)
    return lambda: ig.attribute(
        x, baseline, target=TARGET, n_steps=steps, method="gausslegendre",
        internal_batch_size=batch,
    )  # fmt: skip


# --- the parts ----------------------------------------------------------------------------


def check(model, x, labels) -> None:
    """Each method against its library on the same inputs, small counts: the same maps."""
    steps, masks, samples = 4, 32, 24
    ig = rel_diff(integrated_gradients(model, x, TARGET, steps=steps, progress=False),
                  captum_ig(model, x, steps, steps)())  # fmt: skip
    drawn = rise_masks(masks, SIZE)
    ours_rise = rise(model, x, TARGET, masks=masks, batch_size=16, progress=False)
    tr = rel_diff(ours_rise, torchray_rise(model, x, drawn, 16)() / 0.5)
    ours_lime = lime(model, x, TARGET, segments=labels, samples=samples, progress=False)
    cl = rel_diff(ours_lime, captum_lime(model, x, labels, samples, 12)())
    print(
        f"\nSame maps (largest difference / largest value): IG {steps} steps vs captum {ig:.1e}; "
        f"RISE {masks} masks vs TorchRay {tr:.1e}; LIME {samples} samples vs captum {cl:.1e}"
    )
    assert max(ig, tr, cl) < 1e-4


def probe(model, x, copies: int, sizes: list[int], repeats: int) -> int:
    masks = rise_masks(max(sizes), SIZE)
    batch = x * masks[:, None]
    contenders = {f"{b} per forward": forwards(model, batch[:b], copies) for b in sizes}
    times = interleaved(contenders, repeats, warmup=False)
    values = medians(times)
    fastest = min(values, key=values.__getitem__)
    print(f"\nForward batch size: {copies} masked copies without gradients, ratio to the fastest")
    table(times, fastest, unit="s")
    b = int(fastest.split()[0])
    default = f"{DEFAULT_BATCH_SIZE} per forward"
    if default in values and b != DEFAULT_BATCH_SIZE:
        print(f"  (the methods' default batch_size {DEFAULT_BATCH_SIZE}: "
              f"{paired(times, default, fastest):.2f}x the fastest)")  # fmt: skip
    print(f"  best batch size: {b} ({copies / values[fastest]:.1f} images/s)")
    return b


def bench_ig(model, x, steps: int, sizes: list[int], repeats: int, results: Results) -> None:
    nodes = np.polynomial.legendre.leggauss(steps)[0]
    alphas = torch.from_numpy(0.5 * (1 + nodes)).to(x.dtype).view(-1, 1, 1, 1)
    points = alphas * x  # the path from the zero baseline, precomputed for the floor

    def floor(b: int) -> Callable[[], object]:
        def run() -> None:
            for start in range(0, steps, b):
                xb = points[start : start + b].clone().requires_grad_()
                torch.autograd.grad(model(xb)[:, TARGET].sum(), xb)

        return frozen(model, run)

    sizes = [b for b in sizes if b <= steps] or [steps]
    contenders: dict[str, Callable[[], object]] = {}
    for b in sizes:
        contenders[f"floor, {b} per batch"] = floor(b)
    for b in sizes:
        contenders[f"ours, batch_size={b}"] = lambda b=b: integrated_gradients(
            model, x, TARGET, steps=steps, batch_size=b, progress=False
        )
    for b in sizes:
        contenders[f"captum, internal_batch_size={b}"] = captum_ig(model, x, steps, b)
    default = inspect.signature(integrated_gradients).parameters["batch_size"].default
    again = f"ours, batch_size={default if default in sizes else sizes[-1]}"  # timed twice
    times = interleaved(contenders, repeats, again=again, warmup=False)
    values = medians(times)
    floor_key, ours_key, captum_key = (best(values, p) for p in ("floor", "ours, b", "captum"))
    print(f"\nIntegrated Gradients, {steps} steps ({steps} forward + backward passes)")
    table(times, floor_key)
    judge(results, times, f"IG {steps} steps, ours best ({ours_key}) / floor best ({floor_key})",
          ours_key, floor_key, 1.1, again)  # fmt: skip
    judge(results, times, f"IG {steps} steps, ours best / captum best ({captum_key})",
          ours_key, captum_key, 1.0, again)  # fmt: skip


def bench_rise(model, x, masks: int, b: int, repeats: int, results: Results) -> None:
    drawn = rise_masks(masks, SIZE)  # TorchRay's, drawn before the timed calls
    contenders = {
        f"floor: {masks} forwards": forwards(model, x * drawn[:b, None], masks),
        "ours": lambda: rise(model, x, TARGET, masks=masks, batch_size=b, progress=False),
    }
    for size in sorted({b, TORCHRAY_BATCH}):
        contenders[f"torchray, batch_size={size}"] = torchray_rise(model, x, drawn, size)
    times = interleaved(contenders, repeats, again="ours", warmup=False)
    torchray = best(medians(times), "torchray")
    print(f"\nRISE, {masks} masks, {b} per forward (ours and the floor)")
    table(times, f"floor: {masks} forwards", unit="s")
    judge(results, times, f"RISE {masks} masks, ours / floor", "ours", f"floor: {masks} forwards",
          1.1)  # fmt: skip
    judge(results, times, f"RISE {masks} masks, ours / TorchRay's best ({torchray})", "ours",
          torchray, 1.0)  # fmt: skip


def bench_lime(model, x, labels, samples: int, b: int, repeats: int, results: Results) -> None:
    contenders = {
        "ours": lambda: lime(
            model, x, TARGET, segments=labels, samples=samples, batch_size=b, progress=False
        ),
        "captum": captum_lime(model, x, labels, samples, b),
    }
    times = interleaved(contenders, repeats, again="ours", warmup=False)
    k = int(labels.max()) + 1
    print(f"\nLIME, {samples} samples, {k} superpixels, {b} per forward")
    table(times, "captum", unit="s")
    judge(results, times, f"LIME {samples} samples, ours / captum", "ours", "captum", 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer of everything")
    parser.add_argument("--repeats", type=int, default=3, help="rounds for RISE and LIME")
    parser.add_argument("--ig-repeats", type=int, default=3)
    parser.add_argument("--masks", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--steps", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--ig-batch-sizes", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 8, 16, 32])
    parser.add_argument("--probe-copies", type=int, default=96)
    parser.add_argument("--skip", choices=["ig", "rise", "lime"], nargs="*", default=[])
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.ig_repeats, args.masks, args.samples = 2, 2, 200, 100
        args.steps, args.ig_batch_sizes, args.batch_sizes = [32], [16, 32], [4, 16]
        args.probe_copies = 32
    os.environ["XAIUTILS_PROGRESS"] = "0"  # besides progress=False in every call of ours
    start = time.perf_counter()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; medians of interleaved "
        f"rounds ({args.ig_repeats} for IG, {args.repeats} for RISE and LIME), each ratio the "
        "median of the rounds' ratios"
    )
    torch.manual_seed(0)
    model = xu.load_model()
    x = xu.preprocessing()(xu.load_photo("chelsea"))
    labels = superpixels(x)[0]
    check(model, x, labels)
    results: Results = []
    b = DEFAULT_BATCH_SIZE
    if "rise" not in args.skip or "lime" not in args.skip:
        b = probe(model, x, args.probe_copies, args.batch_sizes, args.ig_repeats)
    if "ig" not in args.skip:
        for steps in args.steps:
            bench_ig(model, x, steps, args.ig_batch_sizes, args.ig_repeats, results)
    if "rise" not in args.skip:
        bench_rise(model, x, args.masks, b, args.repeats, results)
    if "lime" not in args.skip:
        bench_lime(model, x, labels, args.samples, b, args.repeats, results)
    print(f"\nSummary ({(time.perf_counter() - start) / 60:.0f} min in all):")
    for what, ratio, target, tolerance in results:
        print(f"  {what:66s} {ratio:5.2f}  {verdict(ratio, target, tolerance)}")


if __name__ == "__main__":
    main()
