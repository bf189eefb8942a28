"""What the test servers started as subprocesses on loopback share (rclone's S3, localstripe): a free port,
stopping the process, and the ``with`` protocol around ``start``/``stop``."""

from __future__ import annotations

import socket
import subprocess
from types import TracebackType
from typing import Self

HOST = "127.0.0.1"


def free_port() -> int:
    """A loopback port free right now (another process may still take it before the server binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """Terminate ``process`` if it still runs; kill it when it does not stop within 10 s."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class LoopbackServer:
    """``with Server() as server:`` runs ``start()`` and, whatever happens, ``stop()``; the server's process is
    ``_process``."""

    _process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def _stop_process(self) -> None:
        stop_process(self._process)
        self._process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
