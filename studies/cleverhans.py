"""Every method of the course on lesson 10's planted-cue images: which find the Clever Hans's cue.

    .venv/bin/python studies/cleverhans.py     # about 3 minutes on this 2-core CPU

Writes ``results/cleverhans.csv`` (one row per model, method and image: the columns of
:data:`xaiutils.audit.COLUMNS`), ``results/cleverhans_summary.csv`` (each model's and method's
mean per column with its bootstrap 95 % interval) and ``results/cleverhans.json`` (the
command, date, versions and seconds). Lesson 10 reads them and recomputes the cheap methods
live; ``tests/test_cleverhans.py`` recomputes the first images of every method.

**Images**: the first 200 of the test set where the cue disagrees with the object
(:func:`xaiutils.cleverhans.test_sets`, 1,000 images, seed 3). **Models**: the shipped Clever
Hans and fair model (:func:`xaiutils.cleverhans.load_cue_models`); each map explains the
model's own top-1.
The Clever Hans's maps are also compared with the same method's maps on the shuffled-label
model (the data-randomisation test). **Methods**: the 20 of the registry with the settings of
:data:`xaiutils.audit.OPTIONS`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

import xaiutils as xu
from xaiutils.audit import audit_rows, summarise
from xaiutils.cleverhans import load_cue_models, test_sets
from xaiutils.progress import progress

ROOT = Path(__file__).resolve().parent.parent
IMAGES = 200


def cases(n: int = IMAGES):
    """The study's images: the first ``n`` of the test set where the cue disagrees."""
    return test_sets()["cue disagrees"].subset(slice(0, n))


def main() -> None:
    sys.path.insert(0, str(ROOT / "studies"))
    from evaluation import run_info, write_csv

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    parser.add_argument("--images", type=int, default=IMAGES)
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    start = time.perf_counter()
    torch.manual_seed(0)
    models = load_cue_models()
    data = cases(args.images)
    rows = []
    for key in progress(xu.METHODS, total=len(xu.METHODS), desc="methods", enabled=args.progress):
        rows += audit_rows({"clever-hans": models["clever-hans"]}, data, [key], models["shuffled"])
        rows += audit_rows({"fair": models["fair"]}, data, [key])
    seconds = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, args.out / "cleverhans.csv")
    write_csv(summarise(rows), args.out / "cleverhans_summary.csv")
    info = {**run_info(seconds), "images": len(data)}
    (args.out / "cleverhans.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"{len(data)} images, {len(xu.METHODS)} methods, {seconds:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
