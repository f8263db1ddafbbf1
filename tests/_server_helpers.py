"""Helpers for the local server's tests: raw generated stubs on a plain channel, and the CLI
run as a subprocess that is always killed afterwards."""

from __future__ import annotations

import contextlib
import select
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

import grpc
import pytest
from google.rpc import error_details_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status  # type: ignore[import-untyped]

from tigris_grpc._pb import (
    auth_pb2,
    auth_pb2_grpc,
    health_pb2,
    health_pb2_grpc,
    management_pb2_grpc,
)
from tigris_grpc.server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

Metadata = tuple[tuple[str, str], ...]


def bearer(token: str) -> Metadata:
    """The call metadata that authenticates with ``token``."""
    return (("authorization", f"Bearer {token}"),)


class Raw:
    """The generated stubs on a plain insecure channel: no client library in between."""

    def __init__(self, url: str) -> None:
        self.channel = grpc.insecure_channel(url)
        self.management = management_pb2_grpc.ManagementStub(self.channel)
        self.auth = auth_pb2_grpc.AuthStub(self.channel)
        self.health = health_pb2_grpc.HealthAPIStub(self.channel)

    def token(self, client_id: str = DEFAULT_CLIENT_ID, client_secret: str = DEFAULT_CLIENT_SECRET) -> str:
        """Obtains an access token with the CLIENT_CREDENTIALS grant."""
        response = self.auth.GetAccessToken(
            auth_pb2.GetAccessTokenRequest(
                grant_type=auth_pb2.CLIENT_CREDENTIALS,
                client_id=client_id,
                client_secret=client_secret,
            ),
            timeout=10,
        )
        return response.access_token

    def healthy(self) -> bool:
        """Whether Health answers "OK"."""
        return self.health.Health(health_pb2.HealthCheckInput(), timeout=10).response == "OK"

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Raw:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def call_error(func: Callable[[], object]) -> grpc.Call:
    """Runs ``func``, which must fail with a gRPC error, and returns that error."""
    with pytest.raises(grpc.RpcError) as info:
        func()
    error = info.value
    assert isinstance(error, grpc.Call)
    return error


def error_reason(error: grpc.Call) -> str:
    """The ``ErrorInfo.reason`` of the ``grpc-status-details-bin`` trailer.

    ``from_call`` also checks that the detail's code and message match the call's own.
    """
    status = rpc_status.from_call(error)
    assert status is not None, "no grpc-status-details-bin trailer"
    reasons = []
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            reasons.append(info.reason)
    assert len(reasons) == 1, status
    reason: str = reasons[0]
    return reason


def assert_error(func: Callable[[], object], code: grpc.StatusCode, message: str | None = None) -> grpc.Call:
    """Asserts ``func`` fails as the real server would: code, message and ErrorInfo reason."""
    error = call_error(func)
    assert error.code() == code, error.details()
    if message is not None:
        assert error.details() == message
    assert error_reason(error) == code.name
    return error


class ServerProcess:
    """``python -m tigris_grpc.server`` in a subprocess, ready once it printed its address."""

    def __init__(self, *args: str, startup_timeout: float = 20.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tigris_grpc.server", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            self.first_line = self._read_line(startup_timeout)
            if not self.first_line.startswith("listening on "):
                raise AssertionError(f"unexpected first line {self.first_line!r}")
            self.url = self.first_line.removeprefix("listening on ").rstrip("\n")
            self.port = int(self.url.rsplit(":", 1)[1])
        except BaseException:
            self.kill()
            raise

    def _read_line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise AssertionError("the server printed nothing in time")
        line = self.proc.stdout.readline()
        if not line:
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"the server exited: {err}")
        return line

    def terminate(self, timeout: float = 20.0) -> tuple[int, str, str]:
        """Sends SIGTERM and waits; returns the exit code and the rest of stdout and stderr."""
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err

    def kill(self) -> None:
        """SIGKILL (``kill -9``) and reap; closes the pipes. Safe to call twice."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=20)


@contextlib.contextmanager
def server_process(*args: str) -> Iterator[ServerProcess]:
    """Runs the CLI server for the ``with`` block; it is killed afterwards whatever happens."""
    server = ServerProcess(*args)
    try:
        yield server
    finally:
        server.kill()


def data_args(path: Path) -> tuple[str, ...]:
    """CLI arguments for a persistent server on a free port."""
    return ("--port", "0", "--data", str(path))
