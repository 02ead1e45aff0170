"""Serve the dashboard notebook with Voila: one subprocess, bound to 127.0.0.1, leak-proof.

Each page view starts a kernel, and each kernel runs a whole pipeline (broker,
producer, consumer).  Closing a tab often does not shut its kernel down (Voila 0.5,
voila-dashboards/voila#1458: the shutdown request is refused with a 403 ``_xsrf``), so
leaks are made impossible in three layers:

1. the page's heartbeat stops: the dashboard stops its pipeline after
   ``heartbeat_timeout_s`` (no threads, no broker left, the kernel goes idle);
2. the server culls idle kernels (``cull_idle_timeout``, checked every
   ``cull_interval``; ``cull_connected=False`` so an open page is never culled: its
   kernel stays busy with refreshes and heartbeats anyway);
3. a kernel that exits runs ``Pipeline.stop`` (atexit) and its embedded broker has a
   parent-death signal; ``shutdown_wait_time`` gives the stop time before SIGKILL.

:meth:`VoilaServer.stop` stops Voila (which shuts its kernels down) and then kills any
descendant process still alive, so nothing survives the server.

>>> s = VoilaServer(port=8866)
>>> s.url, s.running
('http://127.0.0.1:8866/', False)
>>> "--Voila.ip=127.0.0.1" in s.command() and "--template=f1live" in s.command()
True
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from f1live.config import PROJECT_ROOT

log = logging.getLogger(__name__)

#: The served notebook and the template folder shipped next to it.
NOTEBOOK = PROJECT_ROOT / "widgets" / "dashboard.ipynb"
TEMPLATES = PROJECT_ROOT / "widgets" / "share"


def _child_signals() -> None:
    """In the Voila child: SIGINT handled normally (a parent started from a background
    shell passes SIGINT ignored) and, on Linux, SIGTERM when the parent dies."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if sys.platform == "linux":
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class VoilaServer:
    """``voila widgets/dashboard.ipynb`` as a managed child process.

    Args:
        port: TCP port (``None``: a free one, chosen at :meth:`start`).
        env: extra environment for the server and its kernels (``F1LIVE_*``).
        notebook: the notebook to serve.
        cull_idle_timeout: seconds an idle kernel lives (0 disables culling).
        cull_interval: how often the server checks for idle kernels.
        shutdown_wait_time: seconds a kernel gets to exit (pipeline + broker stop) before SIGKILL.
        log_path: where Voila's own output goes (default: discarded).
    """

    def __init__(
        self,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        notebook: Path = NOTEBOOK,
        *,
        cull_idle_timeout: int = 120,
        cull_interval: int = 30,
        shutdown_wait_time: float = 25.0,
        log_path: Path | None = None,
    ) -> None:
        self.port = port
        self.env = dict(env or {})
        self.notebook = Path(notebook)
        self.cull_idle_timeout = cull_idle_timeout
        self.cull_interval = cull_interval
        self.shutdown_wait_time = shutdown_wait_time
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "voila", str(self.notebook),
            "--no-browser", f"--port={self.port}", "--Voila.ip=127.0.0.1",
            "--template=f1live", "--theme=light", "--strip_sources=True",
            f"--MappingKernelManager.cull_idle_timeout={self.cull_idle_timeout}",
            f"--MappingKernelManager.cull_interval={self.cull_interval}",
            "--MappingKernelManager.cull_connected=False",
            "--MappingKernelManager.cull_busy=False",
            f"--KernelManager.shutdown_wait_time={self.shutdown_wait_time}",
        ]  # fmt: skip

    def start(self, timeout: float = 60.0) -> VoilaServer:
        """Start Voila and wait until it answers HTTP; raises ``RuntimeError`` otherwise."""
        if self.running:
            return self
        if not self.notebook.exists():
            raise FileNotFoundError(f"dashboard notebook {self.notebook} not found")
        if self.port is None:
            self.port = free_port()
        env = dict(os.environ)
        env.update(self.env)
        # the f1live template (no CDN links) is found through JUPYTER_PATH
        env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(TEMPLATES), env.get("JUPYTER_PATH", "")) if p)
        env.setdefault("PYTHONUNBUFFERED", "1")
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                self.command(),
                env=env,
                cwd=str(self.notebook.parent),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_child_signals,
            )  # noqa: PLW1509
        finally:
            if not isinstance(out, int):
                out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"voila exited with code {self._proc.returncode}"
                    + (f" (see {self.log_path})" if self.log_path else "")
                )
            try:
                with urllib.request.urlopen(self.url + "api/status", timeout=2):
                    pass
                log.info("voila serving %s at %s", self.notebook.name, self.url)
                return self
            except urllib.error.HTTPError:  # answering (e.g. 404): it is up
                return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"voila did not answer at {self.url} within {timeout:.0f} s")

    def kernel_pids(self) -> list[int]:
        """Live kernel processes started by this server."""
        import psutil

        if not self.running:
            return []
        try:
            kids = psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        pids = []
        for k in kids:
            try:
                if "ipykernel" in " ".join(k.cmdline()):
                    pids.append(k.pid)
            except psutil.Error:
                continue
        return pids

    def descendants(self) -> list[int]:
        """Every live process below the server (kernels, brokers)."""
        import psutil

        if self._proc is None:
            return []
        try:
            return [p.pid for p in psutil.Process(self._proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout: float = 40.0) -> None:
        """Stop Voila (SIGINT -> SIGTERM -> SIGKILL), then anything it left (idempotent)."""
        import signal

        import psutil

        if self._proc is None:
            return
        try:
            family = psutil.Process(self._proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            family = []
        if self._proc.poll() is None:
            # Voila asks twice on SIGINT ("shut down this server?"); two INTs make it
            # shut its kernels down cleanly (each stops its pipeline and broker).
            for sig in (signal.SIGINT, signal.SIGINT):
                try:
                    self._proc.send_signal(sig)
                except ProcessLookupError:
                    break
                time.sleep(0.2)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("voila did not exit within %.0f s; terminating", timeout)
                self._proc.terminate()
                try:
                    self._proc.wait(10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(5)
        _, alive = psutil.wait_procs(family, timeout=max(1.0, self.shutdown_wait_time))
        for p in alive:  # orphans must not survive the server
            log.warning("killing leftover process %s (%s)", p.pid, " ".join(p.cmdline()[:3]) if p.is_running() else "")
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=5)

    def __enter__(self) -> VoilaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
