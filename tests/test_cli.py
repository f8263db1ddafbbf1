"""The ``tigris-grpc`` command line, run as a real subprocess against a local server.

Every subprocess goes through `_cli`, which also checks that the client secret never reaches
stdout or stderr, whatever the command and however it ends. Usage errors and ``--help``, which
never reach a server, run `main` in-process to keep the suite fast.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from tigris_grpc._cli import main
from tigris_grpc.server import ClientCredential, LocalTigrisServer
from tigris_grpc.testing import local_tigris

CLIENT_ID = "cli-app"
SECRET = "cli-secret-0b7c5e9a"  # distinctive, so a leak anywhere in the output is caught
SCRIPT = shutil.which("tigris-grpc", path=os.path.dirname(sys.executable))
CONSOLE = [SCRIPT] if SCRIPT else []
MODULE = [sys.executable, "-m", "tigris_grpc"]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalTigrisServer]:
    with local_tigris(clients=(ClientCredential(CLIENT_ID, SECRET),)) as srv:
        yield srv


def _clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without any TIGRIS_* setting of the developer's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIGRIS_")}
    env.update(extra or {})
    return env


def _cli(
    *args: str, env: Mapping[str, str] | None = None, stdin: str = "", entry: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    assert SCRIPT, "the tigris-grpc console script is not installed next to this Python"
    proc = subprocess.run(
        [*(entry or CONSOLE), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=_clean_env(env),
        timeout=30,
        check=False,
    )
    assert SECRET not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def _ok(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return json.loads(proc.stdout)


def _failed(proc: subprocess.CompletedProcess[str], code: int) -> str:
    """The one stderr line of a failed run; stdout must be empty."""
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def _creds(server: LocalTigrisServer) -> list[str]:
    return ["--url", server.url, "--client-id", CLIENT_ID, "--client-secret", SECRET]


# --- Metadata ------------------------------------------------------------------------------------


def test_user_insert_get_update_with_options_after_the_command(server: LocalTigrisServer) -> None:
    inserted = _ok(_cli("user", "insert", "theme", '{"dark": true, "font": 14}', *_creds(server)))
    assert inserted == {
        "metadata_key": "theme",
        "namespace_id": 1,
        "user_id": CLIENT_ID,
        "value": {"dark": True, "font": 14},
    }
    assert _ok(_cli("user", "get", "theme", *_creds(server)))["value"] == {"dark": True, "font": 14}
    assert _ok(_cli("user", "update", "theme", '"light"', *_creds(server)))["value"] == "light"
    assert _ok(_cli("user", "get", "theme", *_creds(server)))["value"] == "light"
    # A key never written reads as null, as on the real server.
    assert _ok(_cli("user", "get", "never-written", *_creds(server)))["value"] is None
    # Inserting an existing key is the server's INTERNAL: exit 1, status and code on stderr.
    line = _failed(_cli("user", "insert", "theme", "1", *_creds(server)), 1)
    assert line == "error: 500 INTERNAL: Failed to insert user metadata."


def test_namespace_metadata_through_python_dash_m_with_options_before_the_command(
    server: LocalTigrisServer,
) -> None:
    def ns(*args: str) -> Any:
        return _ok(_cli(*_creds(server), "namespace", *args, entry=MODULE))

    assert ns("insert", "limits", "[1, 2, 3]") == {"metadata_key": "limits", "namespace_id": 1, "value": [1, 2, 3]}
    assert ns("get", "limits")["value"] == [1, 2, 3]
    assert ns("update", "limits", '{"max": 5}')["value"] == {"max": 5}
    assert ns("get", "limits")["value"] == {"max": 5}
    # Namespace metadata is not user metadata.
    assert _ok(_cli(*_creds(server), "user", "get", "limits"))["value"] is None


def test_dash_reads_the_json_value_from_stdin(server: LocalTigrisServer) -> None:
    value = {"text": "line1\nline2 ünïcode", "n": [1, 2.5, None]}
    assert _ok(_cli("user", "update", "piped", "-", *_creds(server), stdin=json.dumps(value)))["value"] == value
    assert _ok(_cli("user", "get", "piped", *_creds(server)))["value"] == value
    line = _failed(_cli("user", "update", "piped", "-", *_creds(server), stdin="{not json"), 2)
    assert "stdin is not valid JSON" in line


def test_malformed_json_is_a_usage_error_that_does_not_echo_the_value(server: LocalTigrisServer) -> None:
    line = _failed(_cli("user", "insert", "pin", '{"pin": 918273', *_creds(server)), 2)
    assert line.startswith("tigris-grpc user insert: error: JSON is not valid JSON")
    assert "918273" not in line
    # A bare word is not JSON either; nothing was stored.
    _failed(_cli("namespace", "insert", "mode", "dark", *_creds(server)), 2)
    assert _ok(_cli("namespace", "get", "mode", *_creds(server)))["value"] is None


# --- Namespaces ----------------------------------------------------------------------------------


def test_namespace_create_list_describe_delete(server: LocalTigrisServer) -> None:
    created = _ok(_cli("namespace", "create", "Team A", "--id", "team-a", "--code", "42", *_creds(server)))
    assert created["namespace"] == {"code": 42, "id": "team-a", "name": "Team A"}
    assert created["status"] == "CREATED"

    listed = _ok(_cli("namespace", "list", *_creds(server)))
    assert {"code": 42, "id": "team-a", "name": "Team A"} in listed
    assert "default_namespace" in {ns["id"] for ns in listed}
    assert _ok(_cli("namespace", "list", "team-a", *_creds(server))) == [{"code": 42, "id": "team-a", "name": "Team A"}]

    described = _ok(_cli("namespace", "describe", "team-a", *_creds(server)))
    assert [entry["id"] for entry in described] == ["team-a"]

    assert _ok(_cli("namespace", "delete", "team-a", *_creds(server)))["status"] == "DELETED"
    assert "team-a" not in {ns["id"] for ns in _ok(_cli("namespace", "list", *_creds(server)))}
    line = _failed(_cli("namespace", "delete", "team-a", *_creds(server)), 1)
    assert line.startswith("error: 404 NOT_FOUND: ")
    # An existing id is ALREADY_EXISTS: 409.
    line = _failed(_cli("namespace", "create", "default_namespace", *_creds(server)), 1)
    assert line.startswith("error: 409 ALREADY_EXISTS: ")


# --- Tokens, health, auth --------------------------------------------------------------------------


def test_token_prints_a_token_that_works_as_token(server: LocalTigrisServer) -> None:
    answer = _ok(_cli("token", *_creds(server)))
    assert set(answer) == {"access_token", "expires_in"}
    assert answer["expires_in"] > 0
    token = answer["access_token"]
    # The printed token alone (no client credentials) authenticates as the client.
    stored = _ok(_cli("user", "update", "via-token", "7", "--url", server.url, "--token", token))
    assert stored["user_id"] == CLIENT_ID
    assert stored["value"] == 7


def test_token_without_client_credentials_is_a_usage_error(server: LocalTigrisServer) -> None:
    line = _failed(_cli("token", "--url", server.url, "--token", server.mint_token("alice")), 2)
    assert "client_id and client_secret are required" in line


def test_health_needs_no_credentials(server: LocalTigrisServer) -> None:
    assert _ok(_cli("health", "--url", server.url)) == {"status": "OK"}


def test_bad_token_exits_1_with_401_and_does_not_print_the_token(server: LocalTigrisServer) -> None:
    line = _failed(_cli("user", "get", "theme", "--url", server.url, "--token", "forged-token-6d1f"), 1)
    assert line.startswith("error: 401 UNAUTHENTICATED: ")
    assert "forged-token-6d1f" not in line


def test_wrong_client_secret_exits_1_with_401(server: LocalTigrisServer) -> None:
    wrong = "wrong-secret-3a9e"
    line = _failed(_cli("user", "get", "k", "--url", server.url, "--client-id", CLIENT_ID, "--client-secret", wrong), 1)
    assert line.startswith("error: 401 UNAUTHENTICATED: ")
    assert wrong not in line


def test_environment_variables_configure_the_connection(server: LocalTigrisServer) -> None:
    env = {"TIGRIS_URL": server.url, "TIGRIS_CLIENT_ID": CLIENT_ID, "TIGRIS_CLIENT_SECRET": SECRET}
    assert _ok(_cli("user", "update", "env-key", '"from env"', env=env))["user_id"] == CLIENT_ID
    # A static token from TIGRIS_TOKEN (TIGRIS_URI is the other spelling of the URL).
    bob = {"TIGRIS_URI": server.url, "TIGRIS_TOKEN": server.mint_token("bob")}
    assert _ok(_cli("user", "get", "env-key", env=bob)) == {
        "metadata_key": "env-key",
        "namespace_id": 1,
        "user_id": "bob",
        "value": None,  # keys are per user: bob does not see cli-app's value
    }
    # The id on the command line, the secret (safer) from the environment.
    half = {"TIGRIS_URL": server.url, "TIGRIS_CLIENT_SECRET": SECRET}
    assert _ok(_cli("user", "get", "env-key", "--client-id", CLIENT_ID, env=half))["value"] == "from env"


def test_a_connection_option_given_after_the_command_wins(server: LocalTigrisServer) -> None:
    # The refused address before the command is overridden by the one after it.
    proc = _cli("--url", "127.0.0.1:1", "health", "--url", server.url)
    assert _ok(proc) == {"status": "OK"}
    # And one given only before the command is kept when the command gives none.
    proc = _cli("--url", server.url, "--timeout", "5", "health")
    assert _ok(proc) == {"status": "OK"}


def test_connection_refused_is_one_error_line(unused_port: int) -> None:
    line = _failed(_cli("health", "--url", f"127.0.0.1:{unused_port}", "--timeout", "5"), 1)
    assert line.startswith("error: 503 UNAVAILABLE: ")


# --- Usage errors and help -----------------------------------------------------------------------


def _in_process(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, str, str]:
    """Run `main` in this process (for what never reaches a server): exit status, stdout, stderr."""
    for name in list(os.environ):
        if name.startswith("TIGRIS_"):
            monkeypatch.delenv(name)
    try:
        status: Any = main(args)
    except SystemExit as exc:  # argparse exits by itself for --help and usage errors
        status = exc.code
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    return status, out, err


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([], id="no-command"),
        pytest.param(["user"], id="no-action"),
        pytest.param(["user", "get"], id="user-get-no-key"),
        pytest.param(["user", "insert", "k"], id="user-insert-no-json"),
        pytest.param(["namespace", "delete"], id="namespace-delete-no-id"),
        pytest.param(["namespace", "create"], id="namespace-create-no-name"),
        pytest.param(["namespace", "create", "x", "--code", "seven"], id="code-not-int"),
        pytest.param(["namespace", "create", "x", "--code", "-1", "--url", "127.0.0.1:1"], id="code-negative"),
        pytest.param(["user", "get", "", "--url", "127.0.0.1:1"], id="empty-key"),
        pytest.param(["health", "--timeout", "0", "--url", "127.0.0.1:1"], id="timeout-zero"),
        pytest.param(["user", "get", "k", "--url", "http://example.com:80"], id="plaintext-remote"),
        pytest.param(["user", "get", "k", "--token", "two words", "--url", "127.0.0.1:1"], id="token-with-space"),
        pytest.param(["--url", "127.0.0.1:1", "serve"], id="serve-with-url"),
        pytest.param(
            ["user", "get", "k", "--client-id", "x", "--client-secret", SECRET, "--token", "t"], id="both-auths"
        ),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, err = _in_process(args, capsys, monkeypatch)
    assert status == 2
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith("tigris-grpc")
    assert ": error: " in err


def test_unrecognized_arguments_do_not_echo_values(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, _, err = _in_process(["user", "get", "k", "--tokne", "typo-secret-44c1"], capsys, monkeypatch)
    assert status == 2
    assert "--tokne" in err
    assert "typo-secret-44c1" not in err


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["user"],
        ["user", "get"],
        ["user", "insert"],
        ["user", "update"],
        ["namespace"],
        ["namespace", "get"],
        ["namespace", "insert"],
        ["namespace", "update"],
        ["namespace", "create"],
        ["namespace", "list"],
        ["namespace", "describe"],
        ["namespace", "delete"],
        ["token"],
        ["health"],
        ["serve"],
    ],
    ids=lambda command: "-".join(command) or "top",
)
def test_help_on_every_command(
    command: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, err = _in_process([*command, "--help"], capsys, monkeypatch)
    assert status == 0, err
    assert out.startswith(" ".join(["usage: tigris-grpc", *command]))
    if command and command[0] != "serve":
        assert "--url" in out  # the connection options are on every client command
    if command == ["serve"]:
        assert "--port" in out  # the server's own options


def test_missing_argument_and_help_from_the_console_script() -> None:
    line = _failed(_cli("user", "get"), 2)
    assert (
        line
        == "tigris-grpc user get: error: the following arguments are required: KEY (see 'tigris-grpc user get --help')"
    )
    proc = _cli("user", "get", "--help", entry=MODULE)
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: tigris-grpc user get ")


# --- Signals and the server ------------------------------------------------------------------------


@pytest.fixture
def unused_port() -> int:
    """A loopback port nobody listens on (bound and released; nothing else here takes ports)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


_WITH_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
)


def test_ctrl_c_during_a_call_exits_130_quietly() -> None:
    # A listener that accepts but never speaks HTTP/2: the call hangs until interrupted.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"127.0.0.1:{listener.getsockname()[1]}"
        # A suite started in the background of a non-interactive shell ignores SIGINT, and so
        # would the child; Ctrl-C in a terminal finds it at its default, so restore that first.
        with subprocess.Popen(
            [sys.executable, "-c", _WITH_DEFAULT_SIGINT, *CONSOLE, "health", "--url", url, "--timeout", "30"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_clean_env(),
        ) as proc:
            try:
                listener.settimeout(20)
                conn, _ = listener.accept()  # the client is now inside the call
                with conn:
                    proc.send_signal(signal.SIGINT)
                    out, err = proc.communicate(timeout=20)
            finally:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130
    assert (out, err) == ("", "")


def test_serve_runs_the_local_server_until_terminated() -> None:
    with subprocess.Popen(
        [*CONSOLE, "serve", "--port", "0", "--grace", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_clean_env(),
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("listening on 127.0.0.1:"), line
            url = line.split()[-1]
            assert _ok(_cli("health", "--url", url)) == {"status": "OK"}
            # The development credentials it accepts by default; the secret comes from the environment.
            env = {"TIGRIS_CLIENT_SECRET": "tigris-local-secret"}
            stored = _ok(_cli("user", "update", "k", '"v"', "--url", url, "--client-id", "tigris-local", env=env))
            assert stored["user_id"] == "tigris-local"
            proc.terminate()
            assert proc.wait(timeout=15) == 0  # a graceful stop
        finally:
            proc.kill()
            proc.wait()
    assert proc.poll() is not None
    # Gone: its port no longer answers.
    line = _failed(_cli("health", "--url", url, "--timeout", "5"), 1)
    assert line.startswith("error: 503 UNAVAILABLE: ")


def test_serve_option_errors_come_from_the_server_parser_under_our_name() -> None:
    proc = _cli("serve", "--port", "not-a-port")
    assert proc.returncode == 2
    assert proc.stdout == ""
    # The server's own parser (usage, then the error), named after the command that ran it.
    assert proc.stderr.startswith("usage: tigris-grpc serve ")
    assert "tigris-grpc serve: error: argument --port" in proc.stderr
