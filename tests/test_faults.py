"""The client on its worst day: a server killed mid-load, servers that never answer or are not
there, and a server shut down under load. Every test runs on loopback, bounded in time.

The restart test records its figures (writes acknowledged and found, recovery time) as junit
properties and prints them; ``pytest -s tests/test_faults.py`` shows them.
"""

from __future__ import annotations

import asyncio
import collections
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _procs import ServerProcess, unused_port

from tigris_grpc import (
    AsyncTigris,
    DeadlineExceededError,
    SDKError,
    Tigris,
    UnavailableError,
)
from tigris_grpc.server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

#: What a call may raise while the server is down: nothing else, and never a raw grpc error.
OUTAGE_ERRORS = (UnavailableError, DeadlineExceededError)


def _credentials_client(url: str, timeout: float = 2.0) -> Tigris:
    return Tigris(server_url=url, client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET, timeout=timeout)


# --- kill -9 and restart ---------------------------------------------------------------------------


@dataclass
class _Load:
    """A writer and a reader sharing one client, recording what happened to every call.

    The writer stores ``{"n": n}`` under its own key ``w<n>`` for n = 1, 2, ...: each
    acknowledged write can then be checked on its own afterwards. The reader reads back the
    latest acknowledged key and records a violation if it is not there.
    """

    client: Tigris
    stop: threading.Event = field(default_factory=threading.Event)
    acked: list[tuple[float, int]] = field(default_factory=list)
    reads: list[float] = field(default_factory=list)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    unexpected: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self.threads = [threading.Thread(target=self._guard, args=(fn,)) for fn in (self._write, self._read)]
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)
        assert not any(thread.is_alive() for thread in self.threads), "a call hung"

    def _guard(self, body: Callable[[], None]) -> None:
        while not self.stop.is_set():
            try:
                body()
            except OUTAGE_ERRORS as exc:
                self.errors[f"{type(exc).__name__} {exc.status_code}"] += 1
                time.sleep(0.01)  # the channel is down: do not spin
            except Exception as exc:  # anything else is what this test looks for
                self.unexpected.append(repr(exc))
                time.sleep(0.01)

    def _write(self) -> None:
        n = self.acked[-1][1] + 1 if self.acked else 1
        # A failed write is retried with the same n on the next turn, so keys stay dense.
        self.client.user.update_metadata(metadata_key=f"w{n}", value={"n": n})
        self.acked.append((time.monotonic(), n))

    def _read(self) -> None:
        if not self.acked:
            return
        n = self.acked[-1][1]
        value = self.client.user.get_metadata(metadata_key=f"w{n}").get_user_metadata_response
        assert value is not None
        if value.value != {"n": n}:
            self.violations.append(f"w{n} read back as {value.value!r} after its write was acknowledged")
        self.reads.append(time.monotonic())


def test_kill_9_and_restart_loses_no_acknowledged_write_and_the_client_recovers(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    with ServerProcess("--data", str(tmp_path / "db.sqlite")) as server:
        port = server.start()
        client = _credentials_client(server.url)
        # A token issued before the crash: tokens must outlive the server process.
        token_response = client.auth.get_access_token().get_access_token_response
        assert token_response is not None
        load = _Load(client)
        try:
            load.start()
            time.sleep(1.5)
            killed_status = server.kill()
            killed = time.monotonic()
            time.sleep(0.5)
            acked_before_kill = len(load.acked)
            server.start(port)  # the same port, at once
            ready = time.monotonic()
            time.sleep(2.0)
        finally:
            load.finish()

        acked = [n for _, n in load.acked]
        found = [n for n in acked if _stored(client, n) == {"n": n}]
        first_read = next((t for t in load.reads if t > ready), None)
        first_write = next((t for t, _ in load.acked if t > ready), None)
        read_recovery = None if first_read is None else first_read - ready
        write_recovery = None if first_write is None else first_write - ready
        with Tigris(token_response.access_token, server_url=server.url) as static:
            survived = static.user.get_metadata(metadata_key=f"w{acked[0]}").get_user_metadata_response
        client.close()

    figures = {
        "writes_acknowledged": len(acked),
        "writes_acknowledged_before_kill": acked_before_kill,
        "writes_found_after_restart": len(found),
        "outage_s": round(ready - killed, 3),
        "read_recovery_s": None if read_recovery is None else round(read_recovery, 3),
        "write_recovery_s": None if write_recovery is None else round(write_recovery, 3),
        "errors_during_outage": dict(load.errors),
    }
    for name, value in figures.items():
        record_property(name, value)
    print(f"\nkill -9 / restart figures: {figures}")  # the README quotes them (pytest -s)

    assert not load.unexpected, f"non-SDKError exceptions during the outage: {load.unexpected[:5]}"
    assert acked_before_kill > 0, figures
    assert len(acked) > acked_before_kill, f"no write was acknowledged after the restart: {figures}"
    assert found == acked, f"acknowledged writes lost: {sorted(set(acked) - set(found))[:20]} ({figures})"
    assert not load.violations, load.violations[:5]
    assert read_recovery is not None, f"reads never resumed: {figures}"
    assert read_recovery < 2.0, f"reads resumed {read_recovery:.2f} s after the server was back: {figures}"
    # Calls during the outage may fail (UNAVAILABLE) or be carried over it by the retry policy:
    # both are right, so what proves the outage is the kill itself.
    assert killed_status == -signal.SIGKILL, f"the server was not killed by the signal: {killed_status}"
    assert survived is not None
    assert survived.value == {"n": acked[0]}


def _stored(client: Tigris, n: int) -> Any:
    return _value(client, f"w{n}")


def _value(client: Tigris, key: str) -> Any:
    body = client.user.get_metadata(metadata_key=key).get_user_metadata_response
    return None if body is None else body.value


# --- servers that do not answer, or are not there ------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP listener that accepts connections and never sends a byte back."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed by the fixture
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(5)
        for conn in accepted:
            conn.close()


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback address where nothing listens: connections are refused at once."""
    sock, port = unused_port()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        sock.close()


def _calls(client: Tigris, timeout: float | None) -> dict[str, Callable[[], object]]:
    return {
        "get (retried)": lambda: client.user.get_metadata(metadata_key="k", timeout=timeout),
        "insert (never retried)": lambda: client.user.insert_metadata(metadata_key="k", value=1, timeout=timeout),
        "health": lambda: client.health(timeout=timeout),
    }


def _outcome(call: Callable[[], object]) -> tuple[BaseException | None, float]:
    start = time.monotonic()
    try:
        call()
    except Exception as exc:  # returned for the test to judge
        return exc, time.monotonic() - start
    return None, time.monotonic() - start


def test_a_server_that_never_answers_ends_every_call_with_504_at_its_deadline(silent_server: str) -> None:
    with Tigris("token", server_url=silent_server) as client:
        for name, call in _calls(client, timeout=1.0).items():
            error, elapsed = _outcome(call)
            assert isinstance(error, DeadlineExceededError), f"{name}: {error!r} after {elapsed:.2f} s"
            assert error.status_code == 504
            assert 0.9 < elapsed < 3.0, f"{name} took {elapsed:.2f} s with timeout=1"


def test_the_client_default_timeout_bounds_calls_to_a_silent_server(silent_server: str) -> None:
    with Tigris("token", server_url=silent_server, timeout=1.0) as client:
        error, elapsed = _outcome(lambda: client.user.update_metadata(metadata_key="k", value=[1]))
    assert isinstance(error, DeadlineExceededError), repr(error)
    assert elapsed < 3.0


@pytest.mark.asyncio
async def test_async_calls_to_a_silent_server_end_with_504_at_their_deadline(silent_server: str) -> None:
    async with AsyncTigris("token", server_url=silent_server) as client:
        start = time.monotonic()
        results = await asyncio.gather(
            client.user.get_metadata(metadata_key="k", timeout=1.0),
            client.user.insert_metadata(metadata_key="k", value=1, timeout=1.0),
            return_exceptions=True,
        )
        elapsed = time.monotonic() - start
    assert all(isinstance(r, DeadlineExceededError) and r.status_code == 504 for r in results), results
    assert elapsed < 3.0


@pytest.mark.parametrize("auth", ["static token", "client credentials"])
def test_no_listener_gives_503_quickly_after_the_retry_budget(refused_url: str, auth: str) -> None:
    client = Tigris("token", server_url=refused_url) if auth == "static token" else _credentials_client(refused_url)
    with client:
        for name, call in _calls(client, timeout=None).items():
            error, elapsed = _outcome(call)
            assert isinstance(error, UnavailableError), f"{name}: {error!r}"
            assert error.status_code == 503
            assert elapsed < 5.0, f"{name} took {elapsed:.2f} s to report the server missing"


# --- graceful shutdown under load ------------------------------------------------------------------


def test_sigterm_under_load_completes_or_fails_every_call_cleanly_and_keeps_acknowledged_writes(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    data = str(tmp_path / "db.sqlite")
    value = {"payload": "x" * 50_000}  # large enough that some calls are mid-flight at SIGTERM
    acked: list[str] = []
    outcomes: collections.Counter[str] = collections.Counter()
    unexpected: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def work(client: Tigris, worker: int) -> None:
        i = 0
        while not stop.is_set():
            key = f"t{worker}-{i}"
            try:
                client.user.update_metadata(metadata_key=key, value=value)
                client.user.get_metadata(metadata_key=key)
            except SDKError as exc:
                with lock:
                    outcomes[type(exc).__name__] += 1
                time.sleep(0.01)
                continue
            except Exception as exc:  # what this test looks for
                with lock:
                    unexpected.append(repr(exc))
                return
            with lock:
                acked.append(key)
                outcomes["ok"] += 1
            i += 1

    with ServerProcess("--data", data, "--grace", "2") as server:
        server.start()
        client = _credentials_client(server.url, timeout=5.0)
        workers = [threading.Thread(target=work, args=(client, w)) for w in range(8)]
        for thread in workers:
            thread.start()
        try:
            time.sleep(0.7)
            status = server.terminate()
            time.sleep(0.5)  # calls after the shutdown must fail too, and promptly
        finally:
            stop.set()
            for thread in workers:
                thread.join(10)
        hung = [thread.name for thread in workers if thread.is_alive()]
        assert not hung, f"calls hung after SIGTERM: {hung}"
        assert status == 0, server.stderr
        assert not unexpected, unexpected[:5]
        assert outcomes["ok"] > 0
        assert set(outcomes) - {"ok"} <= {"UnavailableError", "DeadlineExceededError", "RequestCancelledError"}, (
            outcomes
        )

        server.start()
        with _credentials_client(server.url) as after:
            lost = [key for key in acked if _value(after, key) != value]
        client.close()
    figures = {"outcomes": dict(outcomes), "writes_acknowledged": len(acked), "writes_lost": len(lost)}
    record_property("sigterm", figures)
    print(f"\nSIGTERM under load: {figures}")
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged writes lost in a graceful stop"
