"""The evaluation study of lesson 09: every method, every case, every metric.

``studies/evaluation.py`` runs it over all the cases and writes ``results/``; lesson 09 runs
:func:`score_image` on one composite live and reads the committed results for the rest;
``tests/test_study.py`` recomputes a few committed rows with it. The settings below are the
study's; the script's docstring says why.

* :func:`score_image`: every metric of every method for the cases of one image, one row each;
* :func:`summarise`: each method's mean per metric, bootstrap 95 % interval and paired
  comparisons with the best method and with the centre baseline;
* :func:`figure`: that summary as one figure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import xaiutils as xu
from xaiutils.baselines import BASELINES
from xaiutils.composites import Case, Composite
from xaiutils.evaluation import deletion, insertion
from xaiutils.metrics import box_from_map, energy_in_region, iou, map_similarity, pointing_game
from xaiutils.road import road
from xaiutils.sanity import cascading_randomization

__all__ = [
    "LAYER",
    "METRICS",
    "OPTIONS",
    "PASS",
    "RANDOMISATION",
    "RESULTS",
    "figure",
    "other_classes",
    "randomised_model",
    "read_rows",
    "score_image",
    "summarise",
]

RESULTS = Path(__file__).resolve().parent.parent / "results"  # the committed study (checkout)
TILE = 112
STEPS = 16  # deletion and insertion
ROAD_PERCENTAGES = (20, 50, 80)
MPRT_STAGES = ("classifier", "bn2", "conv_head", "blocks.6")  # randomised, cascading
TOLERANCE = 15  # TorchRay's pointing game
LAYER = {"score-cam": "blocks.1"}  # every other CAM at bn2 (lesson 09 says why)
OPTIONS = {
    "smoothgrad": {"samples": 4},
    "occlusion": {"window": 56, "stride": 56},
    "integrated-gradients": {"steps": 16, "batch_size": 8},
    "gradient-shap": {"samples": 8, "batch_size": 8},
    "rise": {"masks": 250, "batch_size": 8},
    "lime": {"samples": 200, "segments": "slic", "batch_size": 8},
}
METRICS = {  # column: (what it says, True if higher is better)
    "pointing": ("peak within 15 px of the object box", True),
    "energy": ("share of the positive map in the box", True),
    "iou": ("IoU of the 20 % box with the object box", True),
    "deletion": ("deletion AUC, probability", False),
    "insertion": ("insertion AUC, probability", True),
    "road_morf": ("ROAD, most relevant removed first", False),
    "road_lerf": ("ROAD, least relevant removed first", True),
    "random_logit": ("max(Spearman, 0) with another class's map", False),
    "mprt": ("max(Spearman, 0) with the randomised model's map", False),
}
# The randomisation tests (random logit; mprt: model-parameter randomisation) are summarised
# by max(rho, 0), the rank correlation that survives: a map that ranks the pixels the other
# way round has changed, but not "more" than an unrelated one (rho = 0). A method passes if
# the upper end of its interval is below PASS (an all-zero map has no ranking: rho = 0).
RANDOMISATION = ("random_logit", "mprt")
PASS = 0.5


def method_maps(
    model: torch.nn.Module, x: torch.Tensor, targets: list[int], key: str
) -> torch.Tensor:
    """The registry's method ``key`` on one image for several classes: maps ``(n, H, W)``."""
    m = xu.METHODS[key]
    layer = LAYER.get(key, "bn2") if m.needs_layer else None
    xs = x.expand(len(targets), -1, -1, -1)
    return xu.explain(model, xs, key, targets, layer, **OPTIONS.get(key, {})).detach().float()


def other_classes(cases: list[Case], seed: int = 0) -> list[int]:
    """A random other class per case for the random-logit test, seeded by the case itself."""
    out = []
    for c in cases:
        rng = np.random.default_rng([seed, c.image, c.cls])
        draw = int(rng.integers(0, 999))
        out.append(draw + (draw >= c.cls))
    return out


def score_image(
    model: torch.nn.Module,
    fast: torch.nn.Module,
    randomised: torch.nn.Module,
    comp: Composite,
    cases: list[Case],
    methods: list[str],
    maps_out: dict[str, torch.Tensor] | None = None,
) -> list[dict]:
    """Every metric of every method for the cases of one image: one row per case and method.

    ``model`` makes the maps; ``fast`` (the same model, e.g. a channels-last copy, which is
    faster on a CPU) scores the perturbed images; ``randomised`` is the model of the
    randomisation test (:func:`randomised_model`). ``methods``: keys of the registry or of
    :data:`~xaiutils.baselines.BASELINES`. If ``maps_out`` is a dict, each method's maps
    ``(cases, H, W)`` are put in it under the method's name.
    """
    x = comp.input()
    targets = [c.cls for c in cases]
    others = other_classes(cases)
    n = len(cases)
    rows = []
    for key in methods:
        if key in BASELINES:
            one = BASELINES[key](comp.pixels)
            maps = one.expand(2 * n, -1, -1)
            random_maps = maps[:n]
        else:
            maps = method_maps(model, x, targets + others, key)
            random_maps = method_maps(randomised, x, targets, key)
        mine, theirs = maps[:n], maps[n:]
        name = xu.METHODS[key].name if key in xu.METHODS else key
        if maps_out is not None:
            maps_out[name] = mine
        t = torch.tensor(targets)
        dele = deletion(fast, x, mine, t, steps=STEPS, batch_size=8).auc()
        ins = insertion(fast, x, mine, t, steps=STEPS, batch_size=8).auc()
        kw = dict(percentages=ROAD_PERCENTAGES, batch_size=8)
        morf = road(fast, x, mine, t, order="morf", **kw).mean()
        lerf = road(fast, x, mine, t, order="lerf", **kw).mean()
        for i, c in enumerate(cases):
            m = mine[i]
            positive = bool((m > 0).any())
            rows.append(
                {
                    "image": c.image,
                    "case": c.name,
                    "photo": c.photo,
                    "class": c.cls,
                    "layout": c.layout,
                    "rank": c.rank,
                    "method": name,
                    "baseline": key in BASELINES,
                    "pointing": float(pointing_game(m, c.box, TOLERANCE))
                    if m.max() > m.min()
                    else 0.0,
                    "energy": energy_in_region(m, c.box) if positive else 0.0,
                    "iou": iou(box_from_map(m), c.box) if positive else 0.0,
                    "deletion": float(dele[i]),
                    "insertion": float(ins[i]),
                    "road_morf": float(morf[i]),
                    "road_lerf": float(lerf[i]),
                    "random_logit": map_similarity(m, theirs[i])[0],
                    "mprt": map_similarity(m, random_maps[i])[0],
                }
            )
    return rows


def randomised_model(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of the model with its top stages randomised, cascading (lesson 09's sanity check)."""
    *_, (_, clone) = cascading_randomization(model, MPRT_STAGES, seed=0)
    return clone


def summarise(rows: list[dict]) -> list[dict]:
    """Each method's mean per metric, bootstrap 95 % interval, and paired comparisons.

    ``best``: the best method (baselines excluded); ``tied_with_best``: not significantly
    different from it (paired bootstrap); ``beats_centre`` / ``loses_to_centre``: significantly
    better / worse than the centre baseline; ``passes``: for the randomisation tests, the
    interval of the mean surviving correlation max(rho, 0) lies below :data:`PASS`.
    """
    from xaiutils.statistics import bootstrap_mean, paired_difference

    methods = list(dict.fromkeys(r["method"] for r in rows))
    table = {m: [r for r in rows if r["method"] == m] for m in methods}
    out = []
    for metric, (_, higher) in METRICS.items():
        values = {m: np.array([r[metric] for r in table[m]]) for m in methods}
        if metric in RANDOMISATION:
            values = {m: np.clip(v, 0, None) for m, v in values.items()}
        means = {m: v.mean() for m, v in values.items()}
        ranked = [m for m in methods if not table[m][0]["baseline"]]
        best = (max if higher else min)(ranked, key=means.get)
        for m in methods:
            ci = bootstrap_mean(values[m])
            vs_best = paired_difference(values[m], values[best]) if m != best else None
            vs_centre = paired_difference(values[m], values["centre"]) if m != "centre" else None
            better = (lambda d: d.low > 0) if higher else (lambda d: d.high < 0)
            worse = (lambda d: d.high < 0) if higher else (lambda d: d.low > 0)
            out.append(
                {
                    "metric": metric,
                    "method": m,
                    "baseline": table[m][0]["baseline"],
                    "n": ci.n,
                    "mean": ci.mean,
                    "low": ci.low,
                    "high": ci.high,
                    "best": m == best,
                    "tied_with_best": vs_best is not None and not vs_best.excludes(0),
                    "beats_centre": vs_centre is not None and better(vs_centre),
                    "loses_to_centre": vs_centre is not None and worse(vs_centre),
                    "passes": metric in RANDOMISATION and ci.high < PASS,
                }
            )
    return out


def read_rows(path: Path) -> list[dict]:
    """The rows of an ``evaluation.csv`` (``studies/evaluation.py``), numbers parsed."""
    import csv

    with Path(path).open() as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["baseline"] = r["baseline"] == "True"
        for k in ("image", "class", "rank"):
            r[k] = int(r[k])
        for k in METRICS:
            r[k] = float(r[k])
    return rows


def figure(summary: list[dict], path: Path | None = None):
    """Each metric's panel: every method's mean and 95 % interval, the baselines in grey.

    Three rows: the object (pointing, energy, IoU), the model's score (deletion, insertion,
    ROAD), the randomisation tests. Saved to ``path`` if given; returns the figure.
    """
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(r["method"] for r in summary))
    fig, axes = plt.subplots(3, 3, figsize=(13, 17), sharey=True)
    panels = list(METRICS.items())
    for ax, (metric, (what, higher)) in zip(axes.flat, panels, strict=False):
        rows = {r["method"]: r for r in summary if r["metric"] == metric}
        for y, m in enumerate(methods):
            r = rows[m]
            good = r["passes"] if metric in RANDOMISATION else r["beats_centre"]
            bad = not r["passes"] if metric in RANDOMISATION else r["loses_to_centre"]
            colour = "tab:blue" if good else ("tab:red" if bad else "tab:orange")
            colour = "grey" if r["baseline"] else colour
            error = [[r["mean"] - r["low"]], [r["high"] - r["mean"]]]
            ax.errorbar(r["mean"], y, xerr=error, fmt="o", color=colour, ms=4, capsize=2)
            if r["best"] or r["tied_with_best"]:
                ax.plot(r["mean"], y, "o", mfc="none", mec="k", ms=10)
        line = PASS if metric in RANDOMISATION else rows["centre"]["mean"]
        ax.axvline(line, color="grey", lw=0.8, ls="--")
        better = "higher" if higher else "lower"
        ax.set_title(f"{metric.replace('_', ' ')} ({better} is better)", fontsize=10)
        ax.set_xlabel(what, fontsize=8)
        ax.grid(axis="x", lw=0.3)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    axes[0, 0].set_yticks(range(len(methods)), methods)
    axes[0, 0].invert_yaxis()
    fig.suptitle(
        f"{summary[0]['n']} cases: each method's mean and bootstrap 95 % interval\n"
        "blue: better than the centre baseline, dashed (paired bootstrap); orange: not "
        "significantly different; red: significantly worse\n"
        f"randomisation tests: blue passes (interval below max(rho, 0) = {PASS}, dashed), red "
        "fails; grey: the baselines; ring: the best method or not significantly different from it",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
