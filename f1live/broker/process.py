"""Child processes that never outlive their owner: own process group, terminate-then-kill.

Every broker process is started in a new session (its own process group), so a stop
signals the whole group (a ``KAFKA_HOME`` ``bin/`` script and the ``java`` it runs),
and a Ctrl-C in the terminal reaches only the Python owner, which then stops the broker
in order. When started from the main thread the child also gets ``PR_SET_PDEATHSIG``
(Linux), so even a ``kill -9`` of the owner takes the broker down; processes still
running at interpreter exit are stopped by an ``atexit`` hook.

>>> import sys
>>> p = ManagedProcess.spawn("sleep", [sys.executable, "-c", "import time; time.sleep(60)"])
>>> p.alive()
True
>>> p.stop(timeout=5)
>>> p.alive(), p.returncode is not None
(False, True)
>>> p.stop()  # idempotent
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

# Processes started by this interpreter and not yet stopped. Module-level on purpose: the
# atexit hook must find every live child whoever owns it (a notebook that forgot stop()).
_LIVE: set[ManagedProcess] = set()
_LIVE_LOCK = threading.Lock()


def _set_pdeathsig() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except OSError:
        pass


class ManagedProcess:
    """One child process (group) with idempotent terminate-then-kill :meth:`stop`."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log_path: Path | None) -> None:
        self.name = name
        self.popen = popen
        self.log_path = log_path

    @classmethod
    def spawn(
        cls,
        name: str,
        cmd: Sequence[str],
        *,
        log_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        detach: bool = False,
    ) -> ManagedProcess:
        """Start ``cmd`` in its own process group, stdout+stderr appended to ``log_path``.

        ``detach=True`` lets it outlive this interpreter (``f1live broker start --detach``):
        no parent-death signal and no atexit stop.
        """
        out: IO[bytes] | int = subprocess.DEVNULL
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            out = open(log_path, "ab")  # noqa: SIM115 - the child keeps its own copy
        # PDEATHSIG fires when the *thread* that forked exits, so only use it from the main
        # thread (a broker started in a worker thread must not die with that thread).
        die_with_parent = (
            not detach and sys.platform == "linux" and threading.current_thread() is threading.main_thread()
        )
        try:
            popen = subprocess.Popen(
                list(cmd),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_set_pdeathsig if die_with_parent else None,  # noqa: PLW1509
            )
        finally:
            if not isinstance(out, int):
                out.close()
        proc = cls(name, popen, log_path)
        if not detach:
            with _LIVE_LOCK:
                _LIVE.add(proc)
        log.debug("started %s pid %d: %s", name, popen.pid, " ".join(cmd))
        return proc

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the whole process group (no error if it is gone)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the group, wait up to ``timeout`` s, then SIGKILL. Safe to call twice."""
        try:
            if self.popen.poll() is None:
                self.signal_group(signal.SIGTERM)
                try:
                    self.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    log.warning("%s (pid %d) ignored SIGTERM for %.0f s; killing it", self.name, self.pid, timeout)
            # Kill whatever is left in the group, also when the leader already exited.
            self.signal_group(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(5)
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(self)


def stop_all(processes: Sequence[ManagedProcess], timeout: float = 15.0) -> None:
    """Stop several processes in parallel: SIGTERM all, then wait, then SIGKILL the rest."""
    for p in processes:
        if p.alive():
            p.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in processes:
        p.stop(timeout=max(0.1, deadline - time.monotonic()))


@atexit.register
def _stop_leftovers() -> None:
    with _LIVE_LOCK:
        left = list(_LIVE)
    if left:
        log.warning("stopping %d broker process(es) still running at exit", len(left))
        stop_all(left, timeout=10)


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists (and is not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct TCP ports free on ``host`` right now (bound together, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if nothing listens on ``host:port`` and it can be bound.

    Binds with ``SO_REUSEADDR`` as the brokers' own listeners do (Java's default on
    Linux): connections of a broker killed a moment ago linger in TIME_WAIT on its port,
    which blocks a plain bind but not a restart of the broker there.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def log_tail(path: Path | None, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file ('' if there is none)."""
    if path is None or not path.exists():
        return ""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 64 * 1024))
        text = f.read().decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])
