"""``python -m tigris_grpc.server`` as a process: the ready line, graceful SIGTERM, and
durability across ``kill -9`` with ``--data``. Every subprocess is killed in teardown."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from _server_helpers import Raw, ServerProcess, assert_error, bearer, data_args, server_process

from tigris_grpc._pb import management_pb2
from tigris_grpc.server import LocalTigrisServer, ServerConfig, main
from tigris_grpc.server._store import Store


def test_port_0_prints_exactly_one_listening_line_and_sigterm_exits_0() -> None:
    with server_process("--port", "0") as server:
        assert server.first_line == f"listening on 127.0.0.1:{server.port}\n"
        assert server.port > 0
        with Raw(server.url) as raw:
            assert raw.healthy()
            raw.token()  # the development credentials work
        code, rest_of_stdout, _ = server.terminate()
    assert code == 0
    assert rest_of_stdout == ""


# SIGTERM sent to the process lands on whichever thread the kernel picks, often one of grpc's.
# This child sends it to a thread of its own once the server listens, so the main thread never
# sees the signal itself: it must still wake up and stop.
_SIGTERM_ON_ANOTHER_THREAD = """
import signal, sys, threading
from tigris_grpc.server import main

class Stdout:
    def __init__(self): self.listening = threading.Event()
    def write(self, text):
        sys.__stdout__.write(text)
        if text.startswith("listening on "): self.listening.set()
    def flush(self): sys.__stdout__.flush()

sys.stdout = out = Stdout()

def terminate_from_here():
    out.listening.wait()
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

threading.Thread(target=terminate_from_here, daemon=True).start()
sys.exit(main(["--port", "0"]))
"""


def test_sigterm_delivered_to_another_thread_still_stops_the_server() -> None:
    proc = subprocess.Popen([sys.executable, "-c", _SIGTERM_ON_ANOTHER_THREAD], stdout=subprocess.PIPE, text=True)
    try:
        stdout, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0
    assert stdout.startswith("listening on 127.0.0.1:")


def test_sigterm_during_a_stream_of_writes_exits_0_and_keeps_every_acknowledged_write(
    tmp_path: Path,
) -> None:
    db = tmp_path / "tigris.db"
    acknowledged: list[int] = []
    failures: list[grpc.StatusCode | None] = []
    with server_process(*data_args(db)) as server, Raw(server.url) as raw:
        md = bearer(raw.token())

        def write() -> None:
            for i in range(100_000):
                request = management_pb2.UpdateUserMetadataRequest(metadataKey=f"k{i}", value=json.dumps(i).encode())
                try:
                    raw.management.UpdateUserMetadata(request, metadata=md, timeout=10)
                except grpc.RpcError as exc:
                    failures.append(exc.code() if isinstance(exc, grpc.Call) else None)
                    return
                acknowledged.append(i)

        writer = threading.Thread(target=write)
        writer.start()
        deadline = time.monotonic() + 20
        while len(acknowledged) < 30 and writer.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        code, _, stderr = server.terminate()
        writer.join(timeout=20)
    assert code == 0, stderr
    assert len(acknowledged) >= 30
    # The first call after SIGTERM is refused: CANCELLED if it reached the server while it was
    # stopping (it never started), UNAVAILABLE once the port is closed.
    assert len(failures) == 1
    assert failures[0] in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}
    refused = len(acknowledged)

    with server_process(*data_args(db)) as restarted, Raw(restarted.url) as raw:
        md = bearer(raw.token())
        for i in acknowledged:
            got = raw.management.GetUserMetadata(
                management_pb2.GetUserMetadataRequest(metadataKey=f"k{i}"), metadata=md
            )
            assert got.value == json.dumps(i).encode()
        # A call that ran would have been answered within the grace: the refused one never ran.
        got = raw.management.GetUserMetadata(
            management_pb2.GetUserMetadataRequest(metadataKey=f"k{refused}"), metadata=md
        )
        assert got.value == b""


def test_kill_9_loses_no_acknowledged_write_and_tokens_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "tigris.db"
    with server_process(*data_args(db), "--client", "app:secret@tenant") as first:
        port = first.port
        with Raw(first.url) as raw:
            token = raw.token("app", "secret")
            md = bearer(token)
            raw.management.InsertUserMetadata(
                management_pb2.InsertUserMetadataRequest(metadataKey="theme", value=b'"dark"'),
                metadata=md,
            )
            raw.management.UpdateNamespaceMetadata(
                management_pb2.UpdateNamespaceMetadataRequest(metadataKey="plan", value=b'"pro"'),
                metadata=md,
            )
            raw.management.CreateNamespace(management_pb2.CreateNamespaceRequest(name="extra"), metadata=md)
        first.kill()  # SIGKILL: no shutdown code runs

    restart = ("--port", str(port), "--data", str(db), "--client", "app:secret@tenant")
    with server_process(*restart) as second, Raw(second.url) as raw:
        assert second.port == port
        got = raw.management.GetUserMetadata(management_pb2.GetUserMetadataRequest(metadataKey="theme"), metadata=md)
        assert (got.value, got.userId, got.namespaceId) == (b'"dark"', "app", 2)
        shared = raw.management.GetNamespaceMetadata(
            management_pb2.GetNamespaceMetadataRequest(metadataKey="plan"), metadata=md
        )
        assert shared.value == b'"pro"'
        listed = raw.management.ListNamespaces(management_pb2.ListNamespacesRequest(), metadata=md)
        assert [(ns.code, ns.id) for ns in listed.namespaces] == [
            (1, "default_namespace"),
            (2, "tenant"),
            (3, "extra"),
        ]


def test_a_second_server_cannot_take_a_used_port(capsys: pytest.CaptureFixture[str]) -> None:
    with LocalTigrisServer(ServerConfig(port=0)) as first:
        second = LocalTigrisServer(ServerConfig(port=first.port))
        with pytest.raises(OSError, match="cannot listen on"):
            second.start()
        assert main(["--port", str(first.port)]) == 1
        assert "cannot listen on" in capsys.readouterr().err
        with Raw(first.url) as raw:
            assert raw.healthy()


def test_unusable_data_path_is_an_error_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "0", "--data", str(tmp_path / "missing-dir" / "x.db")]) == 1
    assert "error:" in capsys.readouterr().err


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--host", "--port", "--client", "--token-ttl", "--data", "--log-level"):
        assert option in out
    assert "tigris-local:tigris-local-secret@default_namespace" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--client", "no-secret"],
        ["--client", ":secret"],
        ["--client", "id:secret@"],
        ["--port", "70000"],
        ["--token-ttl", "0"],
        ["--log-level", "LOUD"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_debug_log_level_logs_calls_to_stderr_without_tokens() -> None:
    server = ServerProcess("--port", "0", "--log-level", "DEBUG")
    try:
        with Raw(server.url) as raw:
            token = raw.token()
            raw.management.GetUserMetadata(
                management_pb2.GetUserMetadataRequest(metadataKey="k"), metadata=bearer(token)
            )
            assert_error(lambda: raw.token("tigris-local", "nope"), grpc.StatusCode.UNAUTHENTICATED)
        code, _, stderr = server.terminate()
    finally:
        server.kill()
    assert code == 0
    assert "GetUserMetadata OK user=tigris-local" in stderr
    assert "GetAccessToken UNAUTHENTICATED" in stderr
    assert token not in stderr
    assert "tigris-local-secret" not in stderr


def test_data_file_is_sqlite_in_wal_mode_with_the_signing_key(tmp_path: Path) -> None:
    db = tmp_path / "tigris.db"
    with LocalTigrisServer(ServerConfig(port=0, data_path=db)) as server:
        token = server.mint_token("alice")
    with LocalTigrisServer(ServerConfig(port=0, data_path=db)) as server, Raw(server.url) as raw:
        got = raw.management.GetUserMetadata(
            management_pb2.GetUserMetadataRequest(metadataKey="k"), metadata=bearer(token)
        )
        assert got.userId == "alice"
    connection = sqlite3.connect(db)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        (key,) = connection.execute("SELECT value FROM settings").fetchone()
        assert len(key) == 32
    finally:
        connection.close()


def test_data_store_fsyncs_every_commit(tmp_path: Path) -> None:
    # kill -9 cannot tell synchronous=FULL from OFF (the page cache outlives the process); a
    # power cut can, so pin the setting itself. FULL is 2.
    store = Store(tmp_path / "t.db")
    try:
        assert store._db.execute("PRAGMA synchronous").fetchone() == (2,)
        assert store._db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        store.close()
