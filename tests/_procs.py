"""The local server as a child process, for tests that kill it, restart it or read its output.

`ServerProcess` runs ``python -m tigris_grpc.server``, waits for its ``listening on HOST:PORT``
line, and keeps everything it writes (stdout through a reader thread, stderr in a file, so a
chatty server can never block on a full pipe). Stopping is always by the child's own pid, and
`close` (also on ``with`` exit) kills whatever is still running, so no test leaves a server behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
_LISTENING = "listening on "


class ServerProcess:
    """One ``python -m tigris_grpc.server`` child at a time; `start` again after a stop or kill.

    Args:
        *args: Extra command-line arguments (``--data PATH``, ``--log-level DEBUG``, ...).
    """

    def __init__(self, *args: str) -> None:
        self._args = args
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._stdout: list[str] = []
        self._ready = threading.Event()
        # Binary and read with pread: seeking would move the offset the child writes at.
        self._stderr = tempfile.TemporaryFile(buffering=0)  # noqa: SIM115 - closed in close()
        #: The port of the last successful start.
        self.port = 0

    @property
    def url(self) -> str:
        """``127.0.0.1:PORT`` of the running server."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The child's process id."""
        assert self._proc is not None
        return self._proc.pid

    def start(self, port: int = 0, timeout: float = 20.0) -> int:
        """Start the server on ``port`` (0: a free one) and wait until it listens.

        Returns:
            The port it listens on.

        Raises:
            RuntimeError: The server exited or did not report listening within ``timeout``.
        """
        assert self._proc is None or self._proc.poll() is not None, "the server is already running"
        self._ready.clear()
        command = [sys.executable, "-m", "tigris_grpc.server", "--host", "127.0.0.1", "--port", str(port), *self._args]
        self._proc = subprocess.Popen(
            command,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self._reader = threading.Thread(target=self._read, args=(self._proc,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the server did not start on port {port}:\n{self.stderr}")
        line = next(text for text in reversed(self._stdout) if text.startswith(_LISTENING))
        self.port = int(line.rpartition(":")[2])
        return self.port

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._stdout.append(line.rstrip("\n"))
            if line.startswith(_LISTENING):
                self._ready.set()

    def kill(self) -> int:
        """``kill -9`` the server and reap it; nothing is flushed or closed on its side.

        Returns:
            The exit status (``-9`` when the kill is what ended it).
        """
        self._signal(signal.SIGKILL)
        assert self._proc is not None
        return self._proc.returncode

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM (the server stops gracefully) and wait for it to exit.

        Returns:
            The exit status.
        """
        self._signal(signal.SIGTERM, timeout)
        assert self._proc is not None
        return self._proc.returncode

    def send_signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the server without waiting."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, sig)

    def wait(self, timeout: float) -> int:
        """Wait for the server to exit and return its status."""
        assert self._proc is not None
        status = self._proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(5)
        return status

    def _signal(self, sig: signal.Signals, timeout: float = 15.0) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            os.kill(proc.pid, sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout)
        if proc.stdout is not None and self._reader is not None:
            self._reader.join(5)
            proc.stdout.close()

    @property
    def stdout(self) -> str:
        """Everything the server printed on stdout so far (all runs)."""
        return "\n".join(self._stdout)

    @property
    def stderr(self) -> str:
        """Everything the server wrote on stderr so far (all runs)."""
        fd = self._stderr.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")

    def close(self) -> None:
        """Kill the server if it still runs and drop the captured output."""
        self.kill()
        self._stderr.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def unused_port() -> tuple[socket.socket, int]:
    """A loopback port that refuses connections: bound (so nobody else takes it) but not listening.

    Returns:
        The socket, to close when done, and its port.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]
