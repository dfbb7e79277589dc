"""Starting and stopping the background servers the tests and `make cluster-up` use."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(args: list[str], log: Path, *, tie_to_parent: bool, env: dict | None = None) -> subprocess.Popen:
    """Start a server with its output in `log`.

    `tie_to_parent` makes the kernel kill it when the starting process dies, so an
    interrupted test run leaves nothing behind; `make cluster-up` detaches instead.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent if tie_to_parent else None,
            env=env,
        )


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, logs: list[Path] = ()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # the server is still starting
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not become ready within {timeout:.0f}s\n" + tails(logs))


def tails(logs: list[Path], lines: int = 40) -> str:
    parts = []
    for log in logs:
        if log.exists():
            text = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- last {len(text)} lines of {log} ---\n" + "\n".join(text))
    return "\n".join(parts)


def terminate(pids: list[int], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL whatever is still running after `grace` seconds."""
    alive = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
            alive.append(pid)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        for pid in list(alive):
            try:
                finished, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not our child: poll with signal 0
                finished = 0 if _exists(pid) else pid
            if finished:
                alive.remove(pid)
        time.sleep(0.1)
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
