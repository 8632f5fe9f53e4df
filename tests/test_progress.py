"""Progress bars: shown when asked or when a person watches, never in tests, CI or nbval."""

import pytest
import torch

from xaiutils import progress as xp
from xaiutils.methods import ablation_cam, occlusion, score_cam, smoothgrad


def small_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(), torch.nn.Linear(4, 3),
    ).eval()  # fmt: skip


def test_off_in_ci_and_when_told_on_when_asked(monkeypatch):
    monkeypatch.delenv("XAIUTILS_PROGRESS", raising=False)
    monkeypatch.setenv("CI", "true")
    assert not xp.wanted(None) and xp.wanted(True) and not xp.wanted(False)
    monkeypatch.delenv("CI")
    monkeypatch.setenv("XAIUTILS_PROGRESS", "0")
    assert not xp.wanted(None)
    with pytest.raises(TypeError, match="progress must be True, False or None"):
        xp.wanted("yes")


def test_a_terminal_gets_a_bar_a_pipe_does_not(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("XAIUTILS_PROGRESS", raising=False)
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert xp.wanted(None)
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    assert not xp.wanted(None)


def test_the_bar_changes_nothing_but_stderr(capfd):
    model = small_net()
    x = torch.randn(1, 3, 12, 12)
    quiet = occlusion(model, x, 0, window=4, stride=4), smoothgrad(model, x, 0, samples=4)
    assert capfd.readouterr().err == ""  # the default here: XAIUTILS_PROGRESS=0 (conftest)
    shown = occlusion(model, x, 0, window=4, stride=4, progress=True)
    assert "occlusion" in capfd.readouterr().err
    assert torch.equal(shown.prob, quiet[0].prob)
    assert torch.equal(smoothgrad(model, x, 0, samples=4, progress=True), quiet[1])
    assert "SmoothGrad" in capfd.readouterr().err


@pytest.mark.parametrize("method, desc", [(score_cam, "Score-CAM"), (ablation_cam, "Ablation-CAM")])
def test_score_and_ablation_cam_show_a_bar_when_asked(capfd, method, desc):
    model = small_net()
    x = torch.randn(2, 3, 12, 12)
    quiet = method(model, x, 0, "1", batch_size=2)
    assert capfd.readouterr().err == ""
    assert torch.equal(method(model, x, 0, "1", batch_size=2, progress=True), quiet)
    assert desc in capfd.readouterr().err
