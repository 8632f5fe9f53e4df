"""The committed evaluation study (results/, written by studies/evaluation.py) against a recount.

Rows are recomputed from scratch for the cheapest methods on three images: a photo alone with
two cases (camera: tripod and reflex camera), grace_hopper alone (whose two boxes of one class
give one case) and a composite with two cases; the summary is recomputed from the rows.
"""

import copy
import csv
import json

import numpy as np
import pytest
import torch

import xaiutils as xu
from xaiutils import study
from xaiutils.baselines import BASELINES
from xaiutils.composites import evaluation_cases


@pytest.fixture(scope="module")
def table() -> list[dict]:
    return study.read_rows(study.RESULTS / "evaluation.csv")


def test_the_committed_table_covers_every_method_and_at_least_100_cases(table):
    methods = {r["method"] for r in table}
    assert methods == {m.name for m in xu.METHODS.values()} | set(BASELINES)
    cases = {(r["image"], r["case"]) for r in table}
    assert len(cases) >= 100
    assert len(table) == len(cases) * len(methods)  # every method on every case, once
    info = json.loads((study.RESULTS / "evaluation.json").read_text())
    assert info["cases"] == len(cases) and info["command"].startswith("python studies/")
    assert {"date", "seconds", "versions", "dropped"} <= set(info)
    assert all(0 <= r["pointing"] <= 1 and -1 <= r["mprt"] <= 1 for r in table)


def test_recomputed_rows_match_the_committed_ones(table, effnet):
    committed = {(r["image"], r["case"], r["method"]): r for r in table}
    images, kept, dropped = evaluation_cases(effnet, tile=study.TILE)
    info = json.loads((study.RESULTS / "evaluation.json").read_text())
    assert len(dropped) == len(info["dropped"]) and len(kept) == info["cases"]
    by_image: dict[int, list] = {}
    for c in kept:
        by_image.setdefault(c.image, []).append(c)
    camera = next(i for i, cs in by_image.items() if images[i].names == ("camera",))
    hopper = next(i for i, cs in by_image.items() if images[i].names == ("grace_hopper",))
    pair = min(i for i, cs in by_image.items() if len(cs) == 2 and len(images[i].names) == 2)
    assert len(by_image[camera]) == 2 and len(by_image[hopper]) == 1
    fast = copy.deepcopy(effnet).to(memory_format=torch.channels_last)
    randomised = study.randomised_model(effnet)
    methods = ["grad-cam", "vanilla-gradient", "centre", "edges"]
    checked = 0
    # With the committed run's thread count: make test runs one thread per worker, and the
    # order of a sum decides near-ties in a map's ranking, which moves deletion and insertion
    # by up to 1e-3 (0.4863 against 0.4852 on one case with one thread).
    threads = torch.get_num_threads()
    torch.set_num_threads(info["threads"])
    try:
        for i in (camera, hopper, pair):
            rows = study.score_image(effnet, fast, randomised, images[i], by_image[i], methods)
            for row in rows:
                old = committed[(row["image"], row["case"], row["method"])]
                for metric in study.METRICS:
                    assert old[metric] == pytest.approx(row[metric], abs=2e-4), (row, metric)
                checked += 1
    finally:
        torch.set_num_threads(threads)
    assert checked == 4 * 5


def test_the_committed_summary_follows_from_the_committed_rows(table):
    summary = study.summarise(table)
    with (study.RESULTS / "evaluation_summary.csv").open() as f:
        committed = list(csv.DictReader(f))
    assert len(summary) == len(committed) == len(study.METRICS) * 24
    for new, old in zip(summary, committed, strict=True):
        assert (new["metric"], new["method"]) == (old["metric"], old["method"])
        values = [float(old["mean"]), float(old["low"]), float(old["high"])]
        assert np.allclose([new["mean"], new["low"], new["high"]], values, atol=1e-5)
        assert str(new["beats_centre"]) == old["beats_centre"]
