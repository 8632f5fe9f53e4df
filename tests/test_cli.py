"""The command line, run as a user would: in a subprocess, from a folder outside the checkout."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xaiutils as xu

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    assert not cwd.resolve().is_relative_to(ROOT)  # a folder outside the checkout
    env = os.environ | {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}  # the network guard only
    return subprocess.run(
        [sys.executable, "-m", "xaiutils", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_explain_prints_the_top5_and_writes_the_figure_and_the_map(tmp_path, effnet):
    result = run("explain", "chelsea", "--out", "o.png", "--npy", "m.npy", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "285  Egyptian cat" in lines[0] and len(lines) == 7  # top-5, then the two files
    assert (tmp_path / "o.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = np.load(tmp_path / "m.npy")
    x = xu.preprocessing()(xu.load_photo("chelsea"))
    expected = xu.explain(effnet, x, "grad-cam", 285, "bn2")[0].numpy()
    assert saved.shape == (224, 224) and np.allclose(saved, expected, atol=1e-6)


def test_explain_takes_an_image_file_a_method_without_layer_and_a_class_name(tmp_path):
    xu.load_photo("coffee").save(tmp_path / "cup.jpg")
    result = run(
        "explain", "cup.jpg", "--method", "vanilla-gradient", "--target", "espresso",
        "--out", "v.png", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "967  espresso" in result.stdout and (tmp_path / "v.png").is_file()


def test_methods_lists_the_registry(tmp_path):
    result = run("methods", cwd=tmp_path)
    assert result.returncode == 0
    listed = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert listed == list(xu.METHODS)


def test_an_error_is_one_line_and_exit_status_2_in_a_subprocess(tmp_path):
    result = run("explain", "missing.jpg", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr == "error: no image file 'missing.jpg' " + (
        "(and no course photo of that name: " + ", ".join(xu.photo_names()) + ")\n"
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["explain", "not_an_image.jpg"], "cannot read not_an_image.jpg as an image"),
        (["explain", "chelsea", "--method", "gradcam"], "unknown method 'gradcam'"),
        (["explain", "chelsea", "--layer", "bn3"], "no layer 'bn3'"),
        (["explain", "chelsea", "--target", "3.5"], "--target must be top1"),
        (["explain", "chelsea", "--target", "1000"], "--target 1000 is out of range"),
        (["explain", "chelsea", "--model", "resnet"], "unknown model 'resnet'"),
    ],
)
def test_each_error_is_one_line_and_exit_status_2(tmp_path, monkeypatch, capsys, args, message):
    """The same entry point in this process (each subprocess costs seconds of imports)."""
    from xaiutils.cli import main

    (tmp_path / "not_an_image.jpg").write_text("hello")
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1
    assert not (tmp_path / "overlay.png").exists()
