"""How long does lesson 09's evaluation take, and what does batching deletion/insertion buy?

    .venv/bin/python benchmarks/bench_eval.py [--repeats 5] [--steps 5] [--batch-size 8]

On the offline EfficientNet-Lite0 and lesson 09's 224 x 224 composite (chelsea, coffee, camera,
motorcycle in 112-pixel tiles), with the lesson's settings:

1. **The whole evaluation, once**: every method's maps of the four classes (all 20 of the
   registry, with the lesson's reduced counts: SmoothGrad 4 samples, Integrated Gradients 16
   points, GradientSHAP 8 samples, RISE 250 masks and LIME 200 samples from forward passes
   shared by the four classes), then ``score_maps`` for each (box IoU, pointing game, energy,
   deletion and insertion with ``--steps``), then the sanity check (three methods, twelve
   cascading stages). Each part's wall time and the total are printed, with the process's CPU
   time beside them.
2. **Deletion and insertion, batched vs one forward per step**: the curves of Grad-CAM's four
   maps with ``batch_size=--batch-size`` and with ``batch_size=1``, in interleaved rounds; the
   ratio of the medians is the speed-up. The curves are checked to be identical.

Timings on this shared CPU are noisy (up to 4x between minutes); ratios taken from interleaved
rounds in one run are not. Part 1 is a single run: read it as an order of magnitude.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import torch
from _timing import interleaved, medians

import xaiutils as xu
from xaiutils.composites import make_composite
from xaiutils.evaluation import deletion, insertion, score_maps
from xaiutils.methods import METHODS, explain, grad_cam, upsample
from xaiutils.methods.occlusion import occlusion
from xaiutils.sanity import default_stages, sanity_check
from xaiutils.study import LAYER, OPTIONS  # lesson 09's settings for the registry's methods


def lesson_methods(model: torch.nn.Module, x4: torch.Tensor, t: torch.Tensor) -> dict:
    """Lesson 09's methods, all of the registry: each a call that returns the four raw maps at
    224 x 224 (``explain``; occlusion's grid upsampled like a CAM, as the lesson does; RISE and
    LIME share each forward pass among the four classes of the one composite by themselves)."""
    calls = {}
    for key, m in METHODS.items():
        layer = LAYER.get(key, "bn2") if m.needs_layer else None
        calls[m.name] = partial(explain, model, x4, key, t, layer, **OPTIONS.get(key, {}))
    grid = partial(occlusion, model, x4, t, **OPTIONS["occlusion"])
    calls["occlusion"] = lambda: upsample(grid().drop("logit"), tuple(x4.shape[-2:]))
    return calls


def timed(fn: Callable[[], object]) -> tuple[object, float, float]:
    """``fn()``, its wall seconds and the process's CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def whole_evaluation(model: torch.nn.Module, steps: int, batch_size: int) -> None:
    comp = make_composite(["chelsea", "coffee", "camera", "motorcycle"], tile=112)
    x, t = comp.input(), torch.tensor(comp.classes)
    x4 = x.repeat(4, 1, 1, 1)
    with torch.no_grad():
        model(x4)  # warm-up
    rows, maps = [], {}
    for name, fn in lesson_methods(model, x4, t).items():
        maps[name], wall, cpu = timed(fn)
        rows.append((f"maps: {name}", wall, cpu))

    def score_all() -> None:
        for m in maps.values():
            score_maps(model, x, m, t, comp.boxes, comp.tiles, steps=steps, batch_size=batch_size)

    rows.append(("score_maps, all methods", *timed(score_all)[1:]))
    photo = xu.preprocessing()(xu.load_photo("chelsea"))
    checks = {
        "vanilla gradient": lambda m, x, t: explain(m, x, "vanilla-gradient", t),
        "guided backprop": lambda m, x, t: explain(m, x, "guided-backprop", t),
        "Grad-CAM": lambda m, x, t: explain(m, x, "grad-cam", t, "bn2"),
    }
    sanity = timed(lambda: sanity_check(model, photo, 285, checks, default_stages(model)))
    rows.append(("sanity check (3 methods x 12 stages)", *sanity[1:]))
    print(f"\n1. The whole evaluation, once ({steps} steps, batch {batch_size}):")
    for label, wall, cpu in rows:
        print(f"  {label:38s} {wall:7.2f} s wall {cpu:7.2f} s CPU")
    total_wall, total_cpu = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"  {'total':38s} {total_wall:7.2f} s wall {total_cpu:7.2f} s CPU")


def batched_vs_single(model: torch.nn.Module, steps: int, batch_size: int, repeats: int) -> None:
    comp = make_composite(["chelsea", "coffee", "camera", "motorcycle"], tile=112)
    x, t = comp.input(), torch.tensor(comp.classes)
    maps = upsample(grad_cam(model, x.repeat(4, 1, 1, 1), t, "bn2"), comp.size)

    def curves(b: int) -> tuple[torch.Tensor, torch.Tensor]:
        d = deletion(model, x, maps, t, steps=steps, batch_size=b)
        i = insertion(model, x, maps, t, steps=steps, batch_size=b)
        return d.scores, i.scores

    contenders = {
        f"batched ({batch_size})": lambda: curves(batch_size),
        "one per step": lambda: curves(1),
    }
    outputs = {key: fn() for key, fn in contenders.items()}  # warm-up, and the results
    same = all(
        torch.allclose(a, b, rtol=1e-4, atol=1e-7) for a, b in zip(*outputs.values(), strict=True)
    )
    times = interleaved(contenders, repeats, warmup=False)  # the call above warmed up
    med = medians(times)
    forwards = 2 * (2 + 4 * (steps - 1))
    print(
        f"\n2. Deletion + insertion of Grad-CAM's 4 maps ({forwards} forward passes), "
        f"medians of {repeats} interleaved rounds:"
    )
    for key, value in med.items():
        print(f"  {key:18s} {value:7.2f} s")
    single, batched = med["one per step"], med[f"batched ({batch_size})"]
    print(f"  speed-up of batching: {single / batched:.2f}x   same curves: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    model = xu.load_model()
    whole_evaluation(model, args.steps, args.batch_size)
    batched_vs_single(model, args.steps, args.batch_size, args.repeats)


if __name__ == "__main__":
    main()
