"""Lesson 10's planted cue: exact masks, the agreement asked for, seeded data, the shipped models
(retraining gives their accuracies), the audit's measures, and the committed study."""

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

import xaiutils as xu
from xaiutils import audit
from xaiutils import cleverhans as ch
from xaiutils.cleverhans import (
    CLASSES,
    CUE_COLOURS,
    STAMP,
    WEIGHTS,
    CueNet,
    accuracy,
    load_cue_models,
    planted_cue_data,
    shuffled_labels,
    train_models,
    training_data,
)

ROOT = Path(__file__).resolve().parent.parent


def test_masks_are_exact_pixel_for_pixel():
    d = planted_cue_data(300, noise=0.0, contrast=0.3, seed=5)
    assert d.images.shape == (300, 3, 64, 64) and d.images.dtype == torch.float32
    colours = torch.tensor(CUE_COLOURS)[d.cue_labels]  # (n, 3)
    expected = torch.where(d.objects, 0.8, 0.5)[:, None].expand(-1, 3, -1, -1).clone()
    cue = d.cues[:, None].expand(-1, 3, -1, -1)
    expected[cue] = colours[:, :, None, None].expand(-1, -1, 64, 64)[cue]
    torch.testing.assert_close(d.images, expected, rtol=0, atol=1e-6)
    assert (d.cues.sum(dim=(1, 2)) == STAMP * STAMP).all()
    assert not (d.cues & d.objects).any()
    # at least 4 pixels between stamp and shape: the shape grown by 3 never meets the stamp
    from scipy.ndimage import binary_dilation

    grown = [binary_dilation(o.numpy(), np.ones((7, 7), bool)) for o in d.objects]
    assert not (torch.from_numpy(np.stack(grown)) & d.cues).any()
    areas = d.objects.sum(dim=(1, 2)).float()
    assert areas.min() > 60 and areas.max() < 3.2 * 12**2  # radius 8 to 12 pixels


@pytest.mark.parametrize("agreement", [0.0, 0.37, 0.99, 1.0])
def test_the_cue_agrees_with_the_label_as_asked(agreement):
    d = planted_cue_data(1000, agreement=agreement, seed=1)
    agree = (d.cue_labels == d.labels).float().mean().item()
    assert agree == pytest.approx(round(agreement * 1000) / 1000)
    disagree = d.cue_labels[d.cue_labels != d.labels]
    assert set(disagree.tolist()) <= set(range(len(CLASSES)))  # another class, never none
    counts = torch.bincount(d.labels, minlength=3).float() / 1000
    assert (counts - 1 / 3).abs().max() < 0.05


def test_without_the_cue_there_is_no_stamp():
    d = planted_cue_data(100, cue=False, seed=1)
    assert (d.cue_labels == -1).all() and not d.cues.any()
    grey = d.images[:, 0]
    assert torch.equal(grey, d.images[:, 1]) and torch.equal(grey, d.images[:, 2])


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data():
    a, b = planted_cue_data(50, seed=7), planted_cue_data(50, seed=7)
    for field in ("images", "labels", "objects", "cues", "cue_labels"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    assert not torch.equal(a.images, planted_cue_data(50, seed=8).images)
    first = a.subset(slice(0, 5))
    assert len(first) == 5 and torch.equal(first.cues, a.cues[:5])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n must be"),
        ({"n": 10, "agreement": 1.5}, "agreement"),
        ({"n": 10, "seed": -1}, "seed"),
        ({"n": 10, "contrast": -0.1}, "contrast"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        planted_cue_data(**kwargs)


def test_the_shipped_models_are_small_and_cheat_as_the_lesson_says():
    assert WEIGHTS.stat().st_size < 1_000_000
    models = load_cue_models()
    assert set(models) == {"clever-hans", "fair", "shuffled"}  # the lesson's three by default
    with pytest.raises(ValueError, match="clever-hans-95"):
        load_cue_models(("clever hans",))
    assert sum(p.numel() for p in models["fair"].parameters()) < 30_000
    sets = ch.test_sets()
    acc = {m: {k: accuracy(models[m], d) for k, d in sets.items()} for m in models}
    assert acc["clever-hans"]["cue agrees"] > 0.98 and acc["clever-hans"]["cue disagrees"] < 0.15
    assert all(a > 0.95 for a in acc["fair"].values())
    assert all(a < 0.5 for a in acc["shuffled"].values())
    disagree = sets["cue disagrees"]
    assert accuracy(models["clever-hans"], disagree, disagree.cue_labels) > 0.85  # follows the cue


def test_retraining_reproduces_the_shipped_accuracies():
    """Training is seeded, but its sums are ordered by the thread count and the CPU, so a
    retrained model is the shipped one up to rounding, not bit for bit: within 0.03 on every
    test set. The shuffled model is the exception: its test accuracy is chance, and which chance
    level a retrained copy lands on (0.26 or 0.34 on 500 images, one thread or two) is not a
    property of the recipe; what the recipe promises is that it memorises most of its 128 images and
    learns nothing that transfers."""
    shipped, retrained = load_cue_models(tuple(ch.MODELS)), train_models()  # 70 s, 2 threads
    assert set(shipped) == set(retrained) == set(ch.MODELS)
    for name in shipped:
        for key, data in ch.test_sets(500).items():
            a, b = accuracy(shipped[name], data), accuracy(retrained[name], data)
            if name == "shuffled":
                assert a < 0.5 and b < 0.5, (name, key, a, b)
            else:
                assert abs(a - b) <= 0.03, (name, key, a, b)
    images, labels = ch.training_data("shuffled")
    assert accuracy(shipped["shuffled"], images, labels) > 0.85  # 0.96; retrained 0.90 on 1 thread
    assert accuracy(retrained["shuffled"], images, labels) > 0.85


def test_cuenet_is_a_cam_network():
    model = CueNet().eval()
    x = planted_cue_data(2, seed=0).images
    assert model(x).shape == (2, 3)
    layer, fc = xu.methods.cam_head(model, x)
    assert layer == "features" and fc is model.fc
    with pytest.raises(ValueError, match="width"):
        CueNet(width=0)


def test_mass_share_and_peak_by_hand():
    maps = torch.zeros(3, 4, 4)
    maps[0, 0, 0], maps[0, 3, 3] = 3.0, 1.0  # 3/4 of the mass on the mask, peak on it
    maps[1, 0, 0], maps[1, 1, 1] = -5.0, 2.0  # negatives ignored; the peak off the mask
    masks = torch.zeros(3, 4, 4, dtype=torch.bool)
    masks[:, 0, 0] = True
    torch.testing.assert_close(audit.mass_share(maps, masks), torch.tensor([0.75, 0.0, 0.0]))
    torch.testing.assert_close(audit.peak_on(maps, masks), torch.tensor([1.0, 0.0, 0.0]))
    flat = torch.zeros(1, 4, 4)
    flat[0, 1:3, 0:2] = 1.0  # a plateau: any of its pixels on the mask is a hit
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, 2, 1] = True
    assert audit.peak_on(flat, mask).item() == 1.0


def test_committed_rows_match_a_recomputed_subset():
    import sys

    sys.path.insert(0, str(ROOT / "studies"))
    from cleverhans import cases

    committed = {
        (r["model"], r["method"], r["image"]): r
        for r in audit.read_rows(ROOT / "results" / "cleverhans.csv")
    }
    models = load_cue_models()
    data = cases(6)  # the study's first six images, every method
    rows = audit.audit_rows({"clever-hans": models["clever-hans"]}, data, list(xu.METHODS),
                            models["shuffled"])  # fmt: skip
    rows += audit.audit_rows({"fair": models["fair"]}, data, list(xu.METHODS))
    assert len(rows) == 2 * 20 * 6
    for r in rows:
        c = committed[(r["model"], r["method"], r["image"])]
        assert c["top1"] == r["top1"]
        for column in audit.COLUMNS:
            assert np.isnan(c[column]) == np.isnan(r[column]), (r, column)
            if not np.isnan(r[column]):
                assert c[column] == pytest.approx(r[column], abs=2e-4), (r, column)


def test_committed_summary_is_the_summary_of_the_committed_rows():
    rows = audit.read_rows(ROOT / "results" / "cleverhans.csv")
    assert len(rows) == 2 * 20 * 200
    with (ROOT / "results" / "cleverhans_summary.csv").open() as f:
        committed = list(csv.DictReader(f))
    again = audit.summarise(rows)
    assert len(again) == len(committed)
    for a, c in zip(again, committed, strict=True):
        assert (a["model"], a["method"], a["column"]) == (c["model"], c["method"], c["column"])
        for k in ("mean", "low", "high"):
            assert float(c[k]) == pytest.approx(a[k], abs=1e-5)


def test_decoys_are_stamp_sized_and_away_from_shape_and_stamp():
    from scipy.ndimage import binary_dilation

    data = planted_cue_data(100, seed=9)
    decoys = audit.decoy_masks(data)
    assert (decoys.sum(dim=(1, 2)) == STAMP * STAMP).all()
    for d, o, c in zip(decoys, data.objects, data.cues, strict=True):
        near = binary_dilation((o | c).numpy(), np.ones((7, 7), bool))
        assert not (d.numpy() & near).any()
    assert torch.equal(decoys[:10], audit.decoy_masks(data.subset(slice(0, 10))))


def test_verdicts_follow_the_two_rules():
    def rows(model, method, cue, decoy):
        return [{"model": model, "method": method, "peak_cue": a, "peak_decoy": b}
                for a, b in zip(cue, decoy, strict=True)]  # fmt: skip

    n = 100
    table = rows("clever-hans", "good", [1.0] * 90 + [0.0] * 10, [0.0] * n)
    table += rows("fair", "good", [0.0] * n, [0.0] * n)
    table += rows("clever-hans", "alarm", [1.0] * 75 + [0.0] * 25, [0.0] * n)
    table += rows("fair", "alarm", [1.0] * 30 + [0.0] * 70, [0.0] * n)
    table += rows("clever-hans", "flat", [0.0] * n, [0.0] * n)
    table += rows("fair", "flat", [1.0] * 30 + [0.0] * 70, [1.0] * 30 + [0.0] * 70)
    v = audit.verdicts(table)
    assert (v["good"]["exposes"], v["good"]["false_alarm"]) == (True, False)
    assert (v["alarm"]["exposes"], v["alarm"]["false_alarm"]) == (True, True)
    assert (v["flat"]["exposes"], v["flat"]["false_alarm"]) == (False, False)  # decoy as often


def test_training_data_names_what_each_model_saw():
    data, labels = training_data("shuffled")
    assert len(data) == 128 and not torch.equal(labels, data.labels)
    assert torch.equal(labels.sort().values, data.labels.sort().values)  # a permutation
    assert torch.equal(labels, shuffled_labels(data))
    fair, fair_labels = training_data("fair")
    assert len(fair) == 4000 and not fair.cues.any() and torch.equal(fair_labels, fair.labels)
    with pytest.raises(ValueError, match="clever-hans, fair, shuffled"):
        training_data("clever hans")
