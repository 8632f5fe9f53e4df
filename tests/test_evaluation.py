"""xaiutils.evaluation's deletion/insertion on a model whose score is provable, and the sanity
check of xaiutils.metrics (a copy is randomised, the caller's model never)."""

import numpy as np
import pytest
import torch
from torch import nn

from xaiutils.evaluation import blur, deletion, insertion, perturbation_curve, score_maps
from xaiutils.methods.cam import grad_cam, upsample
from xaiutils.sanity import cascading_randomization, default_stages, sanity_check


class RegionSum(nn.Module):
    """Logit 0 is the sum of the pixels inside ``region`` (channel 0); logit 1 is always 0.

    A pixel's contribution to the score is its own value if it lies in the region, 0 if not:
    the map ``x * region`` ranks the pixels exactly by what removing them costs.
    """

    def __init__(self, region: torch.Tensor):
        super().__init__()
        self.register_buffer("region", region.float())
        self.scale = nn.Parameter(torch.ones(()))  # one parameter, so the state can be checked

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.scale * (x[:, 0] * self.region).sum(dim=(1, 2))
        return torch.stack([s, torch.zeros_like(s)], dim=1)


def _square_setup():
    region = torch.zeros(4, 4)
    region[:2, :2] = 1.0  # 4 of the 16 pixels
    return RegionSum(region), torch.ones(1, 1, 4, 4), region


def test_deletion_and_insertion_by_hand():
    model, x, region = _square_setup()
    perfect = region[None]  # the region first: 4 pixels = one step of 16 / 4
    d = deletion(model, x, perfect, 0, steps=4, score="logit")
    assert np.allclose(d.fractions, [0, 0.25, 0.5, 0.75, 1])
    assert d.scores.tolist() == [[4.0, 0.0, 0.0, 0.0, 0.0]]
    assert d.auc().item() == pytest.approx(0.5 * 4 * 0.25)  # one trapezoid
    assert d.auc(relative=True).item() == pytest.approx(0.125)
    worst = 1 - perfect  # the region last
    assert deletion(model, x, worst, 0, steps=4, score="logit").scores.tolist() == [
        [4.0, 4.0, 4.0, 4.0, 0.0]
    ]
    i = insertion(model, x, perfect, 0, steps=4, score="logit", baseline="zero")
    assert i.scores.tolist() == [[0.0, 4.0, 4.0, 4.0, 4.0]]
    assert i.auc().item() == pytest.approx(3.5)


def test_the_perfect_map_drops_fastest_and_rises_fastest():
    torch.manual_seed(0)
    region = torch.zeros(8, 8)
    region[2:6, 1:5] = 1.0
    model = RegionSum(region)
    x = torch.rand(1, 1, 8, 8)  # positive pixels, each worth its value inside the region
    perfect = (x[:, 0] * region)[0][None]
    others = torch.cat([torch.rand(6, 8, 8), region[None], -perfect])
    kw = {"steps": 8, "score": "prob", "baseline": "zero"}
    best_d = deletion(model, x, perfect, 0, **kw)
    best_i = insertion(model, x, perfect, 0, **kw)
    d = deletion(model, x, others, 0, **kw)
    i = insertion(model, x, others, 0, **kw)
    assert (best_d.scores <= d.scores + 1e-7).all()  # lowest at every step (greedy is optimal)
    assert (best_i.scores >= i.scores - 1e-7).all()  # highest at every step
    assert (best_d.auc() <= d.auc()).all() and (best_i.auc() >= i.auc()).all()
    assert best_d.auc() < d.auc()[:6].min()  # strictly better than every random order


def test_batched_equals_one_forward_per_step_and_one_image_broadcasts():
    torch.manual_seed(1)
    region = torch.zeros(6, 6)
    region[1:4, 2:6] = 1.0
    model = RegionSum(region)
    x = torch.rand(1, 1, 6, 6)
    maps = torch.rand(3, 6, 6)
    kw = {"mode": "deletion", "steps": 5, "score": "logit"}
    one = perturbation_curve(model, x, maps, 0, batch_size=1, **kw)
    many = perturbation_curve(model, x, maps, 0, batch_size=7, **kw)
    assert torch.equal(one.scores, many.scores)
    repeated = perturbation_curve(model, x.expand(3, -1, -1, -1), maps, 0, **kw)
    assert torch.equal(repeated.scores, one.scores)
    assert torch.equal(one.full, one.scores[:, 0])


def test_curves_leave_the_model_as_it_was():
    model, x, region = _square_setup()
    model.train()
    deletion(model, x, region[None], 0, steps=2)
    assert model.training and model.scale.requires_grad and model.scale.grad is None


def test_ties_are_broken_by_the_seed_not_by_reading_order():
    model, x, region = _square_setup()
    flat = torch.zeros(1, 4, 4)  # every pixel tied: the order is the seed's
    a = deletion(model, x, flat, 0, steps=16, score="logit", seed=0).scores
    b = deletion(model, x, flat, 0, steps=16, score="logit", seed=0).scores
    assert torch.equal(a, b)
    reading_order = [4, 3, 2, 2, 2, 1] + [0] * 11  # row 0 first: 2 region pixels, 2 others...
    assert a[0].tolist() != reading_order
    assert a[0, 0] == 4 and a[0, -1] == 0 and (a[0, 1:] <= a[0, :-1]).all()


def test_blur_keeps_a_constant_image_and_its_shape():
    x = torch.full((2, 3, 10, 12), 0.3)
    assert blur(x).shape == x.shape
    assert torch.allclose(blur(x), x)
    assert blur(torch.rand(1, 3, 10, 12)).std() < 0.3  # smoother


def test_perturbation_curve_rejects_bad_shapes_and_modes():
    model, x, region = _square_setup()
    with pytest.raises(ValueError, match="upsample"):
        deletion(model, x, torch.zeros(1, 2, 2), 0)
    with pytest.raises(ValueError, match="mode"):
        perturbation_curve(model, x, region[None], 0, mode="both")
    with pytest.raises(ValueError, match="baseline"):
        deletion(model, x, region[None], 0, baseline="grey")


def test_default_stages_run_from_the_output_down(effnet):
    stages = default_stages(effnet)
    assert stages[:4] == ["classifier", "bn2", "conv_head", "blocks.6"]
    assert stages[-3:] == ["blocks.0", "bn1", "conv_stem"]


def test_cascade_randomises_a_copy_cumulatively(effnet):
    before = {k: v.clone() for k, v in effnet.state_dict().items()}
    seen = []
    for stage, model in cascading_randomization(effnet, ["classifier", "bn2"], seed=0):
        assert model is not effnet
        seen.append(stage)
        # The classifier stays random once randomised; bn2 only from its own stage on.
        assert not torch.equal(model.classifier.weight, effnet.classifier.weight)
        assert torch.equal(model.bn2.weight, effnet.bn2.weight) == (stage == "classifier")
        assert torch.equal(model.conv_head.weight, effnet.conv_head.weight)
    assert seen == ["classifier", "bn2"]
    w = effnet.classifier.weight
    assert abs(model.classifier.weight.std() - w.std()) < 0.05 * w.std()  # same scale
    assert all(torch.equal(v, before[k]) for k, v in effnet.state_dict().items())


def test_sanity_check_leaves_the_model_untouched_and_the_top_layer_moves_grad_cam(
    effnet, photos_batch
):
    before = {k: v.clone() for k, v in effnet.state_dict().items()}
    x = photos_batch[:1]  # chelsea

    def gc(model, x, t):
        return upsample(grad_cam(model, x, t, "bn2"), (224, 224))

    result = sanity_check(effnet, x, None, {"Grad-CAM": gc}, ["classifier"])
    assert result.stages == ("original", "classifier")
    assert result.maps["Grad-CAM"].shape == (2, 1, 224, 224)
    assert result.spearman["Grad-CAM"][0, 0] == pytest.approx(1.0)
    assert result.ssim["Grad-CAM"][0, 0] == pytest.approx(1.0)
    assert result.spearman["Grad-CAM"][1, 0] < 0.5  # a random classifier, another map
    assert all(torch.equal(v, before[k]) for k, v in effnet.state_dict().items())
    assert not effnet.training


def test_score_maps_of_the_perfect_map_of_a_region():
    region = torch.zeros(64, 64)
    region[4:20, 8:24] = 1.0
    model = RegionSum(region)
    x = torch.ones(1, 1, 64, 64)
    wrong = torch.zeros(64, 64)
    wrong[50:60, 50:60] = 1.0  # a corner far outside the region
    maps = torch.stack([region, wrong])
    box = (8, 4, 24, 20)
    s = score_maps(model, x, maps, 0, [box, box], steps=4, score="logit", baseline="zero")
    assert s.iou.tolist() == [1.0, 0.0] and s.hits.tolist() == [True, False]
    assert s.energy.tolist() == [1.0, 0.0]
    assert s.peaks[0] == (8, 4)  # the first maximum in reading order
    row = s.summary()
    assert row["localisation"] == 0.5 and row["pointing"] == 0.5 and row["energy"] == 0.5
    assert s.deletion.auc()[0] < s.deletion.auc()[1]
    assert s.insertion.auc()[0] > s.insertion.auc()[1]


def test_random_logit_draws_other_classes_and_shares_one_call():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 6)
    ).eval()
    x = torch.randn(3, 3, 10, 10)
    calls = []

    def grad_map(m, xx, t):
        calls.append(t.tolist())
        xx = xx.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(m(xx).gather(1, t[:, None]).sum(), xx)
        return g.abs().sum(dim=1)

    from xaiutils.sanity import random_logit

    out = random_logit(model, x, [0, 1, 2], grad_map, seed=4)
    assert len(calls) == 1 and calls[0][:3] == [0, 1, 2]  # one call, targets then the others
    assert (out.others != out.targets).all() and out.others.max() < 6
    again = random_logit(model, x, [0, 1, 2], grad_map, seed=4)
    assert np.array_equal(again.others, out.others) and np.allclose(again.spearman, out.spearman)
    same = random_logit(model, x[:1], 0, lambda m, xx, t: torch.ones(len(t), 10, 10), [3])
    assert same.spearman[0] == 0 and same.ssim[0] == pytest.approx(1)  # constant maps: no ranks
    with pytest.raises(ValueError, match="differ"):
        random_logit(model, x[:1], 2, grad_map, [2])
    with pytest.raises(ValueError, match="how"):
        next(cascading_randomization(model, ["0"], how="xavier"))
