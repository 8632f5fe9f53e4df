"""A wheel of xaiutils works outside this checkout: every subpackage and the annotations ship.

The wheel is built offline with the setuptools pinned in pyproject.toml (``--no-build-isolation``:
no build environment to download), installed into a fresh virtualenv, and used from a folder
outside the checkout. The fresh virtualenv sees this environment's site-packages (torch, timm,
... without reinstalling them) through a plain path in a ``.pth`` file, after its own: the
``.pth`` files over there, an editable install's among them, are not run. (``venv
--system-site-packages`` would not do: from a virtualenv it exposes the base interpreter's
packages, not this environment's.)
"""

import importlib.metadata
import os
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OFFLINE = ROOT / "tests" / "offline"

SCRIPT = """
import math, sys, sysconfig
from pathlib import Path

# Only the fresh virtualenv's site-packages holds an xaiutils; the checkout is not on sys.path.
site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()
entries = [Path(p or ".").resolve() for p in sys.path]
assert Path(sys.argv[1]).resolve() not in entries, sys.path
assert [p for p in entries if (p / "xaiutils").exists()] == [site_packages], sys.path

import torch
import xaiutils as xu
import xaiutils.images
import xaiutils.methods

assert Path(xu.__file__).resolve().is_relative_to(site_packages), xu.__file__
assert xaiutils.images.DATA_DIR.resolve().is_relative_to(site_packages), xaiutils.images.DATA_DIR

assert len(xu.photo_names()) == 8, xu.photo_names()
ann = xu.annotation("chelsea")
assert ann.classes == ((285, "Egyptian cat"),) and ann.boxes[0].xyxy == (0, 0, 400, 300), ann

model = xu.load_model()
x = xu.preprocessing()(xu.load_photo("chelsea"))
assert x.shape == (1, 3, 224, 224), x.shape
maps = {
    "grad_cam": xaiutils.methods.grad_cam(model, x, None, "bn2"),
    "score_cam": xaiutils.methods.score_cam(model, x, None, "blocks.3"),
}
assert maps["grad_cam"].shape == (1, 7, 7), maps["grad_cam"].shape
import xaiutils.cleverhans as ch  # lesson 10's shipped weights load from the wheel
assert ch.WEIGHTS.resolve().is_relative_to(site_packages), ch.WEIGHTS
assert set(ch.load_cue_models()) == {"clever-hans", "fair", "shuffled"}
assert maps["score_cam"].shape == (1, 14, 14), maps["score_cam"].shape
for name, m in maps.items():
    assert torch.isfinite(m).all() and m.max() > 0, name
print("ok", xu.__file__)
"""


def _source_tree(destination: Path) -> Path:
    """The checkout's files as a build sees them, without .git, virtualenvs and build outputs.

    Built from a copy so that setuptools' ``build/`` and ``*.egg-info`` stay out of the checkout
    (a stale ``build/lib`` would also leak deleted modules into the wheel).
    """

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {"__pycache__", ".ipynb_checkpoints"}
        if Path(folder) == ROOT:
            for name in names:
                path = ROOT / name
                if (
                    name.startswith(".")
                    or name in ("build", "dist")
                    or name.endswith(".egg-info")
                    or (path / "pyvenv.cfg").exists()
                ):
                    skipped.add(name)
        return skipped & set(names)

    shutil.copytree(ROOT, destination, ignore=ignore)
    return destination


def _run(args: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


def test_wheel_ships_everything_and_works_outside_the_checkout(tmp_path):
    setuptools = importlib.metadata.version("setuptools")
    if int(setuptools.split(".")[0]) < 77:
        pytest.fail(
            f"setuptools {setuptools} cannot build this project (needs 77+); "
            "`make setup` installs the version pinned in pyproject.toml"
        )

    source = _source_tree(tmp_path / "src")
    dist = tmp_path / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["--disable-pip-version-check", "-w", dist, source]
    )
    (wheel,) = dist.glob("xaiutils-*.whl")

    names = set(zipfile.ZipFile(wheel).namelist())
    tops = {name.split("/")[0] for name in names}
    assert all(top == "xaiutils" or top.endswith(".dist-info") for top in tops), tops
    expected = {
        path.relative_to(ROOT).as_posix()
        for pattern in ("*.py", "annotations/*.json", "weights/*.pt")
        for path in (ROOT / "xaiutils").rglob(pattern)
        if "__pycache__" not in path.parts
    }
    assert "xaiutils/methods/cam.py" in expected and "xaiutils/images.py" in expected
    assert len([name for name in expected if name.endswith(".json")]) == 8
    assert "xaiutils/weights/cue_models.pt" in expected  # lesson 10's trained models
    assert expected <= names, sorted(expected - names)

    # A fresh virtualenv: the wheel installed into it alone, this environment's packages visible
    # after it (a plain path in a .pth file: the .pth files over there are not run).
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    _run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index"]
        + ["--disable-pip-version-check", wheel]
    )
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    Path(purelib.stdout.strip(), "_course_env.pth").write_text("\n".join(site.getsitepackages()))

    # From a folder outside the checkout; only the network guard on PYTHONPATH, no checkout.
    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "try_wheel.py").write_text(SCRIPT)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")
    }
    env.update(PYTHONPATH=str(OFFLINE), PYTHONNOUSERSITE="1", XAIUTILS_BLOCK_NETWORK="1")
    result = _run([python, "try_wheel.py", ROOT], cwd=work, env=env, timeout=300)
    assert result.stdout.startswith("ok "), result.stdout
