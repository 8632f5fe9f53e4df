"""Every method of the course, every evaluation case, every metric: lesson 09's full table.

    .venv/bin/python studies/evaluation.py            # 48 minutes on this 2-core CPU
    .venv/bin/python studies/evaluation.py --images 6 # a quick look: the first 6 images only

Writes ``results/evaluation.csv`` (one row per case and method, one column per metric),
``results/evaluation_summary.csv`` (each method's mean per metric with its bootstrap 95 %
interval and how it compares with the best method and with the centre baseline),
``results/evaluation.png`` (that summary as a figure) and ``results/evaluation.json`` (the
command, date, versions, seconds and which cases were dropped and why). Lesson 09 reads them;
``tests/test_study.py`` recomputes a few rows and checks them against the committed file.

**Cases** (:func:`xaiutils.composites.evaluation_cases`): the eight photos alone and every
ordered pair side by side and stacked, 112-pixel tiles; a case is one annotated class on one
image, kept if the class is among the model's top 5 there.

**Methods**: the 20 of the registry with lesson 09's reduced counts (below), and four baseline
maps that never look at the model (:mod:`xaiutils.baselines`).

**Metrics**, per case: the pointing game (TorchRay's 15-pixel tolerance) and the energy in
the object box, the IoU of the CAM paper's box with it, RISE's deletion and insertion areas
(16 steps, the class's probability), ROAD (Rong et al.: noisy linear imputation, the mean
probability after removing 20, 50 and 80 % of the pixels, most relevant first and least
relevant first), the random-logit test (Spearman and SSIM of the map for the class with the
map for a random other class) and the model-parameter randomisation test (Spearman of the map
with the map of the same method on the model whose top four stages are randomised, cascading:
classifier, bn2, conv_head, blocks.6).

What it costs: each case needs about 40 forward passes per map for the perturbation metrics
alone (16-step deletion and insertion, six ROAD images), times 24 maps, times 121 cases, and
ROAD solves one sparse linear system per perturbed image: 2854 s on the idle 2-core machine
(2026-12-01), far from the ten minutes we aim for. Run nothing else that uses PyTorch meanwhile:
two jobs on two cores each take two threads and both slow down five to ten times.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

import xaiutils as xu
from xaiutils.baselines import BASELINES
from xaiutils.composites import evaluation_cases
from xaiutils.progress import progress
from xaiutils.study import TILE, figure, randomised_model, read_rows, score_image, summarise

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    parser.add_argument("--images", type=int, default=None, help="only the first N images")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--summary-only", action="store_true", help="redo the summary and figure from the CSV"
    )
    args = parser.parse_args()
    if args.summary_only:
        write_summary(read_rows(args.out / "evaluation.csv"), args.out)
        return
    start = time.perf_counter()
    torch.manual_seed(0)
    model = xu.load_model()
    fast = copy.deepcopy(model).to(memory_format=torch.channels_last)  # same numbers, faster
    randomised = randomised_model(model)
    images, kept, dropped = evaluation_cases(model, tile=TILE)
    by_image = {}
    for c in kept:
        by_image.setdefault(c.image, []).append(c)
    chosen = sorted(by_image)[: args.images]
    methods = list(xu.METHODS) + list(BASELINES)
    rows = []
    for i in progress(chosen, total=len(chosen), desc="images", enabled=args.progress):
        rows += score_image(model, fast, randomised, images[i], by_image[i], methods)
    seconds = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, args.out / "evaluation.csv")
    write_summary(rows, args.out)
    info = {
        **run_info(seconds),
        "machine": platform.platform(),
        "cases": len({r["case"] + str(r["image"]) for r in rows}),
        "images": len(chosen),
        "dropped": [
            {"photo": c.photo, "class": c.cls, "layout": c.layout, "image": c.image, "rank": c.rank}
            for c in dropped
        ],
    }
    (args.out / "evaluation.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"{info['cases']} cases, {len(methods)} maps each, {seconds:.0f} s -> {args.out}")


def write_summary(rows: list[dict], out: Path) -> None:
    """``evaluation_summary.csv`` and ``evaluation.png`` from the rows."""
    import matplotlib

    matplotlib.use("Agg")
    summary = summarise(rows)
    write_csv(summary, out / "evaluation_summary.csv")
    figure(summary, out / "evaluation.png")


def run_info(seconds: float) -> dict:
    """What a study's ``.json`` records of its run: command, date, seconds, threads, versions."""
    return {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "threads": torch.get_num_threads(),
        "versions": versions(),
    }


def versions() -> dict[str, str]:
    from importlib.metadata import version

    names = ["torch", "torchvision", "timm", "numpy", "scipy", "scikit-image", "quantus"]
    return {"python": platform.python_version(), **{n: version(n) for n in names}}


def write_csv(rows: list[dict], path: Path) -> None:
    import csv

    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for r in rows:
            writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in r.items()})


if __name__ == "__main__":
    main()
