"""The repository's promises: pinned deps agree, lessons carry no outputs, nothing goes online."""

import json
import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _base(requirement: str) -> str:
    return re.split(r"[=<>!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_names_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = project["dependencies"] + project["optional-dependencies"]["course"]
    text = (ROOT / "environment.yml").read_text()
    listed = re.findall(r"^\s+- ([A-Za-z0-9_.\-]+==[^\s#]+)", text, re.M)
    assert {_base(r) for r in listed} - {"python", "pip"} == {_base(r) for r in pinned}
    # Same versions too, not only the same names.
    versions = {_base(r): r.split("==")[1] for r in listed}
    assert all(versions[_base(r)] == r.split("==")[1] for r in pinned)


def test_notebooks_in_git_carry_no_outputs():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    solutions = sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))
    assert notebooks and solutions
    for path in notebooks + solutions:
        # Lessons are NN_name.ipynb, appendices A1_name.ipynb; the explorer is the one other.
        assert (
            re.fullmatch(r"(\d\d|A\d)_[a-z0-9_]+\.ipynb", path.name)
            or path.name == "explorer.ipynb"
        )
        for cell in json.loads(path.read_text())["cells"]:
            assert cell.get("id"), f"{path.name}: a cell without an id (nbformat 4.5 needs one)"
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, path.name


def test_every_solution_belongs_to_a_lesson_that_links_to_it():
    for path in sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb")):
        lesson = ROOT / "notebooks" / path.name
        assert lesson.is_file(), f"{path.name}: no lesson of that name"
        assert f"solutions/{path.name}" in lesson.read_text(), f"{lesson.name} does not link it"
        assert f"../{path.name}" in path.read_text(), f"{path.name} does not link back"


def test_import_does_no_work():
    code = (
        "import sys, xaiutils, xaiutils.images as im;"
        "assert im._annotations.cache_info().currsize == 0;"
        "assert 'timm' not in sys.modules and 'torchvision' not in sys.modules;"
        "print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr


def _connect_elsewhere() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: never routed


def test_network_is_blocked_here_but_loopback_works():
    with pytest.raises(OSError, match="blocked: the course's tests and lessons run offline"):
        _connect_elsewhere()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=1):
            pass


def test_network_is_blocked_in_child_processes_and_kernels():
    code = (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('192.0.2.1', 443), timeout=1)\n"
        "except OSError as e:\n"
        "    print('blocked' if 'run offline' in str(e) else 'other: %s' % e)\n"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert child.stdout.strip() == "blocked", child.stderr
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        reply = client.execute_interactive(code, timeout=60, output_hook=_collect(lines := []))
        assert reply["content"]["status"] == "ok" and "".join(lines).strip() == "blocked"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _collect(lines: list[str]):
    def hook(msg: dict) -> None:
        if msg["msg_type"] == "stream":
            lines.append(msg["content"]["text"])

    return hook
