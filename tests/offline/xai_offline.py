"""Make every network connection to a non-loopback address fail loudly.

The tests and the notebooks under test must run offline: a download attempt (torchvision
weights, a torchray example, a hub model) has to fail at once with a message that says why,
instead of hanging or silently succeeding on a machine that happens to be online. Loopback and
Unix sockets keep working: nbval talks to the notebook kernels over loopback.

Activated in the pytest process by ``conftest.py`` and in every child Python process (the
notebook kernels) by ``sitecustomize.py`` beside this file, which ``conftest.py`` puts on the
children's ``PYTHONPATH`` with ``XAIUTILS_BLOCK_NETWORK=1``.
"""

from __future__ import annotations

import ipaddress
import socket

_original_connect = socket.socket.connect
_original_connect_ex = socket.socket.connect_ex


class NetworkBlockedError(OSError):
    """A test or a lesson tried to reach the network."""


def _check(sock: socket.socket, address: object) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # Unix sockets and the like
    host = address[0] if isinstance(address, tuple) else address
    try:
        if ipaddress.ip_address(str(host).split("%")[0]).is_loopback:
            return
    except ValueError:
        if host == "localhost":
            return
    raise NetworkBlockedError(
        f"network access to {address!r} is blocked: the course's tests and lessons run offline. "
        "Something tried to download; use the offline model and photos (xaiutils.load_model(), "
        "xaiutils.load_photo()) or weights already in the torch cache."
    )


def _connect(self: socket.socket, address: object) -> None:
    _check(self, address)
    return _original_connect(self, address)


def _connect_ex(self: socket.socket, address: object) -> int:
    _check(self, address)
    return _original_connect_ex(self, address)


def block() -> None:
    """Install the guard in this process (idempotent)."""
    socket.socket.connect = _connect
    socket.socket.connect_ex = _connect_ex
