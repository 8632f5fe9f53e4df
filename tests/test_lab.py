"""`make lab` starts JupyterLab, also as root, on lesson 00, and nothing asks about news.

Run as root (as CI and this machine are), the server answering proves the root case: without
``--allow-root`` JupyterLab exits at once there.
"""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_make_lab_starts_the_server_and_it_answers(tmp_path):
    port, token = free_port(), "course-test"
    args = f"--no-browser --ServerApp.ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 "
    args += f"--IdentityProvider.token={token}"
    env = os.environ | {"JUPYTER_RUNTIME_DIR": str(tmp_path), "JUPYTER_DATA_DIR": str(tmp_path)}
    server = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_ARGS={args}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: make, jupyter and its children
    )
    base = f"http://127.0.0.1:{port}"
    try:
        status = None
        for _ in range(120):  # up to a minute
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    status = json.load(r)
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.5)
        assert status is not None and "started" in status
        with urllib.request.urlopen(f"{base}/lab/tree/00_setup_and_tour.ipynb?token={token}") as r:
            assert r.status == 200
        url = f"{base}/api/contents/00_setup_and_tour.ipynb?content=0&token={token}"
        with urllib.request.urlopen(url) as r:  # the root folder is notebooks/
            assert json.load(r)["type"] == "notebook"
        settings = ROOT / ".venv/share/jupyter/lab/settings/overrides.json"
        news = json.loads(settings.read_text())["@jupyterlab/apputils-extension:notification"]
        assert news["fetchNews"] == "false"  # the first-run prompt is answered: no
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.communicate(timeout=30)
