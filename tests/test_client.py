"""The sync `Tigris` client (issue 4): the REST SDK's code, the wire, deadlines, retries, threads.

Two servers: the local Tigris server (``tigris_server``) for behaviour end to end, and
`FakeServer` ("any server implementing the contract") to see the exact bytes and headers that
arrive and to answer with whatever a test needs.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from _fake_server import (
    GET_USER_METADATA,
    INSERT_USER_METADATA,
    UPDATE_USER_METADATA,
    Abort,
    FakeServer,
    Reply,
    Sleep,
    fake_server,
    pairs,
)

# The REST SDK's imports, with only the module name changed (CONTRACT.md, "The REST shape").
import tigris_grpc as tigris
from tigris_grpc import BearerAuthInterceptor
from tigris_grpc._pb import management_pb2, management_pb2_grpc
from tigris_grpc.models import errors, operations, shared
from tigris_grpc.server import LocalTigrisServer

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    """A fake server for one test."""
    with fake_server() as server:
        yield server


@pytest.fixture
def token(tigris_server: LocalTigrisServer) -> str:
    """A token for user ``alice`` in the default namespace of the local server."""
    return tigris_server.mint_token("alice")


@pytest.fixture
def client(tigris_server: LocalTigrisServer, token: str) -> Iterator[tigris.Tigris]:
    """A client of the local server, signed in as ``alice``."""
    with tigris.Tigris(bearer_auth=token, server_url=tigris_server.url) as s:
        yield s


@pytest.fixture
def fake_client(fake: FakeServer) -> Iterator[tigris.Tigris]:
    """A client of the fake server with the static token ``tok``."""
    with tigris.Tigris(bearer_auth="tok", server_url=fake.url) as s:
        yield s


def get_response(key: str = "k", value: bytes = b"", user: str = "u", namespace: int = 1) -> bytes:
    """Serialized GetUserMetadataResponse, as a server sends it."""
    msg = management_pb2.GetUserMetadataResponse(metadataKey=key, userId=user, namespaceId=namespace, value=value)
    return msg.SerializeToString()


def free_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- The REST SDK's example code, unchanged but for the import -----------------------------------


def test_rest_sdk_example_runs_against_the_local_server(tigris_server: LocalTigrisServer, token: str) -> None:
    # The REST SDK's server 1 is given as "http://localhost:8081"; the same URL form works here.
    s = tigris.Tigris(bearer_auth=token, server_url=f"http://{tigris_server.url}")

    req = operations.ManagementGetUserMetadataRequest(
        get_user_metadata_request=shared.GetUserMetadataRequest(),
        metadata_key="theme",
    )
    res = s.user.get_metadata(req)
    assert res.get_user_metadata_response is not None
    assert res.status_code == 200
    assert res.content_type == "application/grpc"
    assert res.get_user_metadata_response.value is None  # not set yet
    assert res.get_user_metadata_response.metadata_key == "theme"
    assert res.get_user_metadata_response.user_id == "alice"
    assert res.get_user_metadata_response.namespace_id == 1

    ins = operations.ManagementInsertUserMetadataRequest(
        insert_user_metadata_request=shared.InsertUserMetadataRequest(value={"dark": True}),
        metadata_key="theme",
    )
    res_ins = s.user.insert_metadata(ins)
    assert res_ins.insert_user_metadata_response is not None
    assert res_ins.status_code == 200
    assert res_ins.insert_user_metadata_response.value == {"dark": True}
    assert res_ins.insert_user_metadata_response.user_id == "alice"

    res = s.user.get_metadata(req)
    assert res.get_user_metadata_response is not None
    assert res.get_user_metadata_response.value == {"dark": True}
    assert isinstance(res.raw_response, management_pb2.GetUserMetadataResponse)
    assert res.raw_response.value == b'{"dark":true}'

    upd = operations.ManagementUpdateUserMetadataRequest(
        update_user_metadata_request=shared.UpdateUserMetadataRequest(value={"dark": False, "size": 12}),
        metadata_key="theme",
    )
    res_upd = s.user.update_metadata(upd)
    assert res_upd.update_user_metadata_response is not None
    assert res_upd.update_user_metadata_response.value == {"dark": False, "size": 12}

    res = s.user.get_metadata(req)
    assert res.get_user_metadata_response is not None
    assert res.get_user_metadata_response.value == {"dark": False, "size": 12}

    # The REST SDK's error handling: errors.SDKError with message and status_code.
    with pytest.raises(errors.SDKError) as caught:
        s.user.insert_metadata(ins)
    assert caught.value.status_code == 500
    s.close()


def test_flattened_forms(client: tigris.Tigris) -> None:
    inserted = client.user.insert_metadata(metadata_key="lang", value="en")
    assert inserted.insert_user_metadata_response is not None
    assert inserted.insert_user_metadata_response.value == "en"
    updated = client.user.update_metadata(metadata_key="lang", value="fr")
    assert updated.update_user_metadata_response is not None
    assert updated.update_user_metadata_response.value == "fr"
    got = client.user.get_metadata(metadata_key="lang")
    assert got.get_user_metadata_response is not None
    assert got.get_user_metadata_response.value == "fr"


def test_update_creates_a_missing_key(client: tigris.Tigris) -> None:
    client.user.update_metadata(metadata_key="new", value=[1])
    got = client.user.get_metadata(metadata_key="new").get_user_metadata_response
    assert got is not None
    assert got.value == [1]


@pytest.mark.parametrize(
    "value",
    [
        {"a": {"b": [1, 2.5, None, True]}},
        [1, "two", {"three": 3}],
        "plain text",
        "",
        0,
        -(2**62),
        3.25,
        True,
        False,
        "héllo wörld ✓ 日本語 🎉",
        {"ключ": "значение"},
    ],
    ids=repr,
)
def test_values_round_trip(client: tigris.Tigris, value: Any) -> None:
    inserted = client.user.insert_metadata(metadata_key="v", value=value).insert_user_metadata_response
    assert inserted is not None
    assert inserted.value == value
    got = client.user.get_metadata(metadata_key="v").get_user_metadata_response
    assert got is not None
    assert got.value == value
    assert type(got.value) is type(value)


def test_missing_key_reads_as_none(client: tigris.Tigris) -> None:
    got = client.user.get_metadata(metadata_key="never-written")
    assert got.get_user_metadata_response is not None
    assert got.get_user_metadata_response.value is None
    assert got.get_user_metadata_response.metadata_key == "never-written"


def test_insert_of_an_existing_key_is_an_internal_server_error(client: tigris.Tigris) -> None:
    client.user.insert_metadata(metadata_key="once", value=1)
    with pytest.raises(tigris.InternalServerError) as caught:
        client.user.insert_metadata(metadata_key="once", value=2)
    assert caught.value.status_code == 500
    assert caught.value.grpc_code == grpc.StatusCode.INTERNAL
    got = client.user.get_metadata(metadata_key="once").get_user_metadata_response
    assert got is not None
    assert got.value == 1  # the refused insert changed nothing


def test_users_do_not_see_each_others_keys(tigris_server: LocalTigrisServer) -> None:
    alice = tigris.Tigris(bearer_auth=tigris_server.mint_token("alice"), server_url=tigris_server.url)
    bob = tigris.Tigris(bearer_auth=tigris_server.mint_token("bob"), server_url=tigris_server.url)
    with alice, bob:
        alice.user.insert_metadata(metadata_key="k", value="a")
        bob.user.insert_metadata(metadata_key="k", value="b")
        got_a = alice.user.get_metadata(metadata_key="k").get_user_metadata_response
        got_b = bob.user.get_metadata(metadata_key="k").get_user_metadata_response
        assert got_a is not None
        assert got_b is not None
        assert (got_a.value, got_a.user_id) == ("a", "alice")
        assert (got_b.value, got_b.user_id) == ("b", "bob")


# --- Validation, before any I/O ------------------------------------------------------------------

NAN = float("nan")
INVALID_WRITES: list[tuple[str, dict[str, Any], str]] = [
    ("empty key", {"metadata_key": "", "value": 1}, "metadata_key must not be empty"),
    ("missing key", {"value": 1}, "metadata_key is required"),
    ("None value", {"metadata_key": "k", "value": None}, "value is required"),
    ("no value", {"metadata_key": "k"}, "value is required"),
    ("object value", {"metadata_key": "k", "value": object()}, "not JSON-serialisable"),
    ("set value", {"metadata_key": "k", "value": {1, 2}}, "not JSON-serialisable"),
    ("bytes value", {"metadata_key": "k", "value": b"raw"}, "not JSON-serialisable"),
    ("NaN", {"metadata_key": "k", "value": NAN}, "not JSON-serialisable"),
    ("NaN inside", {"metadata_key": "k", "value": {"x": [NAN]}}, "not JSON-serialisable"),
    ("infinity", {"metadata_key": "k", "value": float("inf")}, "not JSON-serialisable"),
    # "x" * 99_999 is 100_001 bytes as JSON (with its quotes).
    ("value over 100 kB", {"metadata_key": "k", "value": "x" * 99_999}, "at most 100000"),
    ("key over 10 kB", {"metadata_key": "k" * 10_001, "value": 1}, "at most 10000"),
    ("key over 10 kB in UTF-8", {"metadata_key": "é" * 5_001, "value": 1}, "at most 10000"),
]


@pytest.mark.parametrize("method", ["insert_metadata", "update_metadata"])
@pytest.mark.parametrize(("kwargs", "says"), [case[1:] for case in INVALID_WRITES], ids=[c[0] for c in INVALID_WRITES])
def test_invalid_writes_raise_value_error_before_any_io(
    fake: FakeServer, fake_client: tigris.Tigris, method: str, kwargs: dict[str, Any], says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        getattr(fake_client.user, method)(**kwargs)
    assert fake.calls == []


def test_limits_are_inclusive(fake: FakeServer, fake_client: tigris.Tigris) -> None:
    fake.on(UPDATE_USER_METADATA, Reply())
    fake_client.user.update_metadata(metadata_key="k" * 10_000, value="x" * 99_998)  # exactly at both limits
    (call,) = fake.calls
    request = management_pb2.UpdateUserMetadataRequest.FromString(call.request)
    assert len(request.metadataKey.encode()) == 10_000
    assert len(request.value) == 100_000


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.user.get_metadata(metadata_key=""),
        lambda s: s.user.get_metadata(),
        lambda s: s.user.get_metadata(operations.ManagementGetUserMetadataRequest()),  # key defaults to ""
        lambda s: s.user.get_metadata(operations.ManagementGetUserMetadataRequest(metadata_key="k"), metadata_key="k"),
        lambda s: s.user.insert_metadata(
            operations.ManagementInsertUserMetadataRequest(
                insert_user_metadata_request=shared.InsertUserMetadataRequest(value=1), metadata_key="k"
            ),
            value=2,
        ),
        lambda s: s.user.update_metadata(
            operations.ManagementUpdateUserMetadataRequest(
                update_user_metadata_request=shared.UpdateUserMetadataRequest(value=1), metadata_key="k"
            ),
            metadata_key="k",
        ),
        lambda s: s.user.insert_metadata(operations.ManagementInsertUserMetadataRequest(metadata_key="k")),
        lambda s: s.user.get_metadata(metadata_key="k", timeout=0),
        lambda s: s.user.get_metadata(metadata_key="k", timeout=-1),
        lambda s: s.user.get_metadata(metadata_key="k", timeout=NAN),
    ],
    ids=[
        "get empty key",
        "get no key",
        "get request without key",
        "get request and flattened key",
        "insert request and flattened value",
        "update request and flattened key",
        "insert request without value",
        "zero timeout",
        "negative timeout",
        "NaN timeout",
    ],
)
def test_invalid_calls_raise_value_error_before_any_io(fake: FakeServer, fake_client: tigris.Tigris, call: Any) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is checked per case above
        call(fake_client)
    assert fake.calls == []


def test_both_request_and_flattened_names_the_fields(fake_client: tigris.Tigris) -> None:
    req = operations.ManagementGetUserMetadataRequest(metadata_key="k")
    with pytest.raises(ValueError, match="either a request object or metadata_key"):
        fake_client.user.get_metadata(req, metadata_key="k")


@pytest.mark.parametrize("key", [5, b"k", ["k"]], ids=repr)
def test_non_str_key_is_a_type_error(fake: FakeServer, fake_client: tigris.Tigris, key: Any) -> None:
    with pytest.raises(TypeError, match="metadata_key must be a str"):
        fake_client.user.get_metadata(metadata_key=key)
    with pytest.raises(TypeError, match="metadata_key must be a str"):
        fake_client.user.insert_metadata(metadata_key=key, value=1)
    assert fake.calls == []


def test_wrong_request_type_is_a_type_error(fake: FakeServer, fake_client: tigris.Tigris) -> None:
    wrong: Any = operations.ManagementInsertUserMetadataRequest(metadata_key="k")
    with pytest.raises(TypeError, match="ManagementGetUserMetadataRequest"):
        fake_client.user.get_metadata(wrong)
    assert fake.calls == []


def test_value_error_does_not_echo_the_value(fake_client: tigris.Tigris) -> None:
    secret = {"password": "hunter2-" + "x" * 100_000}
    with pytest.raises(ValueError, match="at most") as caught:
        fake_client.user.insert_metadata(metadata_key="k", value=secret)
    assert "hunter2" not in str(caught.value)


# --- The wire: request bytes and headers ---------------------------------------------------------


def test_exact_request_bytes(fake: FakeServer, fake_client: tigris.Tigris) -> None:
    fake.on(INSERT_USER_METADATA, Reply())
    fake.on(GET_USER_METADATA, Reply())
    fake.on(UPDATE_USER_METADATA, Reply())
    fake_client.user.insert_metadata(metadata_key="k", value={})
    fake_client.user.get_metadata(metadata_key="k")
    fake_client.user.update_metadata(metadata_key="k", value={"a": [1, 2], "b": "é"})
    insert, get, update = fake.calls
    assert (insert.method, insert.request.hex()) == (INSERT_USER_METADATA, "0a016b12027b7d")  # CONTRACT.md
    assert (get.method, get.request) == (GET_USER_METADATA, b"\x0a\x01k")
    # Compact UTF-8 JSON: no spaces, no \u escapes.
    expected = management_pb2.UpdateUserMetadataRequest(metadataKey="k", value='{"a":[1,2],"b":"é"}'.encode())
    assert (update.method, update.request) == (UPDATE_USER_METADATA, expected.SerializeToString())


def test_response_bytes_are_read_into_the_model(fake: FakeServer, fake_client: tigris.Tigris) -> None:
    fake.on(GET_USER_METADATA, Reply(bytes.fromhex("0a016b1201751803220178")))  # CONTRACT.md's example
    res = fake_client.user.get_metadata(metadata_key="k")
    body = res.get_user_metadata_response
    assert body is not None
    assert (body.metadata_key, body.user_id, body.namespace_id) == ("k", "u", 3)
    # b"x" is not JSON (another client wrote it): returned as the bytes, not lost.
    assert body.value == b"x"
    fake.on(GET_USER_METADATA, Reply(get_response(value=b'{"n":1}')))
    body = fake_client.user.get_metadata(metadata_key="k").get_user_metadata_response
    assert body is not None
    assert body.value == {"n": 1}


def test_headers_on_the_wire(fake: FakeServer, fake_client: tigris.Tigris) -> None:
    fake.on(GET_USER_METADATA, Reply())
    fake_client.user.get_metadata(metadata_key="k")
    fake_client.user.get_metadata(metadata_key="k", metadata=[("x-request-id", "r1"), ("x-trace-bin", b"\x00\x01")])
    plain, with_caller = fake.calls
    assert plain.header("authorization") == "Bearer tok"
    user_agent = plain.header("user-agent")
    assert isinstance(user_agent, str)
    assert f"tigris-grpc-python/{tigris.__version__}" in user_agent
    # The caller's metadata is kept, in order, and ours is appended after it.
    assert pairs(with_caller.metadata) == [
        ("x-request-id", "r1"),
        ("x-trace-bin", b"\x00\x01"),
        ("authorization", "Bearer tok"),
    ]


def test_a_callers_own_authorization_wins(fake: FakeServer, fake_client: tigris.Tigris) -> None:
    fake.on(GET_USER_METADATA, Reply())
    fake_client.user.get_metadata(metadata_key="k", metadata=[("authorization", "Bearer other")])
    (call,) = fake.calls
    assert call.headers("authorization") == ["Bearer other"]


def test_bearer_prefix_in_the_token_is_not_doubled(fake: FakeServer) -> None:
    fake.on(GET_USER_METADATA, Reply())
    with tigris.Tigris(bearer_auth="Bearer tok", server_url=fake.url) as s:
        s.user.get_metadata(metadata_key="k")
    (call,) = fake.calls
    assert call.header("authorization") == "Bearer tok"


def test_token_from_the_environment(fake: FakeServer) -> None:
    fake.on(GET_USER_METADATA, Reply())
    with tigris.Tigris(env={"TIGRIS_TOKEN": "env-tok", "TIGRIS_URI": fake.url}) as s:
        s.user.get_metadata(metadata_key="k")
    (call,) = fake.calls
    assert call.header("authorization") == "Bearer env-tok"


# --- Deadlines -----------------------------------------------------------------------------------


def test_per_call_timeout(fake: FakeServer, fake_client: tigris.Tigris) -> None:
    fake.on(GET_USER_METADATA, Sleep(30))
    start = time.monotonic()
    with pytest.raises(tigris.DeadlineExceededError) as caught:
        fake_client.user.get_metadata(metadata_key="k", timeout=0.3)
    assert time.monotonic() - start < 20  # gave up on its own, long before the server answered
    assert caught.value.status_code == 504
    assert caught.value.grpc_code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_client_timeout_and_per_call_override(fake: FakeServer) -> None:
    with tigris.Tigris(bearer_auth="tok", server_url=fake.url, timeout=0.3) as s:
        fake.on(GET_USER_METADATA, Sleep(30))
        start = time.monotonic()
        with pytest.raises(tigris.DeadlineExceededError):
            s.user.get_metadata(metadata_key="k")
        assert time.monotonic() - start < 20
        # A longer per-call timeout wins over the client's.
        fake.on(GET_USER_METADATA, Sleep(0.6, Reply(get_response(value=b"1"))))
        got = s.user.get_metadata(metadata_key="k", timeout=10).get_user_metadata_response
        assert got is not None
        assert got.value == 1


def test_default_deadline_is_ten_seconds(fake: FakeServer, fake_client: tigris.Tigris) -> None:
    remaining: list[float | None] = []

    def handler(request: bytes, context: grpc.ServicerContext) -> bytes:
        remaining.append(context.time_remaining())
        return b""

    fake.on(GET_USER_METADATA, handler)
    fake_client.user.get_metadata(metadata_key="k")
    (left,) = remaining
    assert left is not None
    # grpc rounds the deadline it sends and the server reads its own clock: allow a little over.
    assert 5 < left <= 10.5


# --- Retries -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [GET_USER_METADATA, UPDATE_USER_METADATA])
def test_idempotent_calls_are_retried_on_unavailable(fake: FakeServer, fake_client: tigris.Tigris, path: str) -> None:
    fake.on(path, Abort(UNAVAILABLE, "down"), Abort(UNAVAILABLE, "down"), Reply(get_response(value=b"7")))
    if path == GET_USER_METADATA:
        res: Any = fake_client.user.get_metadata(metadata_key="k").get_user_metadata_response
    else:
        res = fake_client.user.update_metadata(metadata_key="k", value=7).update_user_metadata_response
    assert res.value == 7
    calls = fake.calls_to(path)
    assert len(calls) == 3
    assert {call.request for call in calls} == {calls[0].request}  # the same request each time


def test_inserts_are_never_retried(fake: FakeServer, fake_client: tigris.Tigris) -> None:
    fake.on(INSERT_USER_METADATA, Abort(UNAVAILABLE, "down"), Reply())
    with pytest.raises(tigris.UnavailableError) as caught:
        fake_client.user.insert_metadata(metadata_key="k", value=1)
    assert caught.value.status_code == 503
    assert caught.value.message == "down"
    assert len(fake.calls) == 1


def test_retries_give_up_after_max_attempts(fake: FakeServer) -> None:
    fake.on(GET_USER_METADATA, Abort(UNAVAILABLE, "down"))
    retry = tigris.RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)
    with (
        tigris.Tigris(bearer_auth="tok", server_url=fake.url, retry=retry) as s,
        pytest.raises(tigris.UnavailableError),
    ):
        s.user.get_metadata(metadata_key="k")
    assert len(fake.calls) == 3


def test_retry_none_switches_retries_off(fake: FakeServer) -> None:
    fake.on(GET_USER_METADATA, Abort(UNAVAILABLE, "down"), Reply())
    with tigris.Tigris(bearer_auth="tok", server_url=fake.url, retry=None) as s, pytest.raises(tigris.UnavailableError):
        s.user.get_metadata(metadata_key="k")
    assert len(fake.calls) == 1


def test_other_errors_are_not_retried(fake: FakeServer, fake_client: tigris.Tigris) -> None:
    fake.on(GET_USER_METADATA, Abort(grpc.StatusCode.INTERNAL, "boom"), Reply())
    with pytest.raises(tigris.InternalServerError):
        fake_client.user.get_metadata(metadata_key="k")
    assert len(fake.calls) == 1


# --- Lifecycle -----------------------------------------------------------------------------------


def test_constructor_does_no_io() -> None:
    port = free_port()
    # Nothing listens: constructing neither raises nor blocks; the first call finds out.
    s = tigris.Tigris(bearer_auth="tok", server_url=f"127.0.0.1:{port}", retry=None)
    with s, pytest.raises(tigris.UnavailableError) as caught:
        s.user.get_metadata(metadata_key="k", timeout=5)
    assert caught.value.status_code == 503


def test_constructor_does_not_connect() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(0.3)
        url = f"127.0.0.1:{listener.getsockname()[1]}"
        clients = [
            tigris.Tigris(bearer_auth="tok", server_url=url),
            tigris.Tigris(client_id="id", client_secret="secret", server_url=url),
        ]
        with pytest.raises(socket.timeout):  # TimeoutError from Python 3.10 on
            listener.accept()  # nobody connected
        for client in clients:
            client.close()


def test_client_credentials_fetch_nothing_until_the_first_call(fake: FakeServer) -> None:
    with tigris.Tigris(client_id="id", client_secret="secret", server_url=fake.url):
        pass
    assert fake.calls == []


def test_with_closes_and_later_calls_raise_runtime_error(fake: FakeServer) -> None:
    fake.on(GET_USER_METADATA, Reply())
    with tigris.Tigris(bearer_auth="tok", server_url=fake.url) as s:
        s.user.get_metadata(metadata_key="k")
    with pytest.raises(RuntimeError, match="closed"):
        s.user.get_metadata(metadata_key="k")
    s.close()  # closing again is harmless
    assert len(fake.calls) == 1


def test_an_injected_channel_is_used_and_left_open(fake: FakeServer) -> None:
    fake.on(GET_USER_METADATA, Reply(get_response(value=b'"via channel"')))
    channel = grpc.insecure_channel(fake.url)
    try:
        with tigris.Tigris(bearer_auth="tok", channel=channel, server_url="api.example.com") as s:
            assert s.server_url is None
            got = s.user.get_metadata(metadata_key="k").get_user_metadata_response
            assert got is not None
            assert got.value == "via channel"
        # The client did not close what it did not open.
        stub = management_pb2_grpc.ManagementStub(channel)
        answer = stub.GetUserMetadata(management_pb2.GetUserMetadataRequest(metadataKey="k"), timeout=5)
        assert answer.value == b'"via channel"'
    finally:
        channel.close()
    assert [call.header("authorization") for call in fake.calls] == ["Bearer tok", None]


# --- Threads -------------------------------------------------------------------------------------


def test_sixteen_threads_share_one_client(client: tigris.Tigris) -> None:
    threads, duration = 16, 5.0
    done = [0] * threads
    problems: list[str] = []
    start = threading.Barrier(threads)

    def worker(index: int) -> None:
        start.wait()
        end = time.monotonic() + duration
        seq = 0
        try:
            while time.monotonic() < end:
                key = f"t{index}-{seq % 4}"
                value = {"thread": index, "seq": seq, "pad": "é" * (seq % 7)}
                updated = client.user.update_metadata(metadata_key=key, value=value).update_user_metadata_response
                got = client.user.get_metadata(metadata_key=key).get_user_metadata_response
                if updated is None or (updated.metadata_key, updated.value) != (key, value):
                    problems.append(f"update {key}: {updated!r}")
                if got is None or (got.metadata_key, got.value, got.user_id) != (key, value, "alice"):
                    problems.append(f"get {key}: {got!r}")
                seq += 1
        except Exception as exc:
            problems.append(f"thread {index}: {exc!r}")
        done[index] = seq

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=duration + 30)
    assert not any(thread.is_alive() for thread in pool)
    assert problems == []
    assert all(count > 0 for count in done), done  # every thread got through
    # Each thread's last value is what the server holds: nothing lost, nothing crossed over.
    for index, count in enumerate(done):
        last = count - 1
        got = client.user.get_metadata(metadata_key=f"t{index}-{last % 4}").get_user_metadata_response
        assert got is not None
        assert got.value == {"thread": index, "seq": last, "pad": "é" * (last % 7)}


# --- Compatibility with older servers ------------------------------------------------------------


def test_old_server_not_found_reads_as_none(fake: FakeServer, fake_client: tigris.Tigris) -> None:
    fake.on(GET_USER_METADATA, Abort(grpc.StatusCode.INTERNAL, "user metadata not found", reason="INTERNAL"))
    got = fake_client.user.get_metadata(metadata_key="k")
    assert got.status_code == 200
    assert got.get_user_metadata_response is not None
    assert got.get_user_metadata_response.value is None
    assert got.get_user_metadata_response.metadata_key == "k"


def test_other_internal_errors_still_raise(fake: FakeServer, fake_client: tigris.Tigris) -> None:
    fake.on(GET_USER_METADATA, Abort(grpc.StatusCode.INTERNAL, "disk on fire"))
    with pytest.raises(tigris.InternalServerError, match="disk on fire"):
        fake_client.user.get_metadata(metadata_key="k")
    # On writes, "not found" is an error like any other.
    fake.on(UPDATE_USER_METADATA, Abort(grpc.StatusCode.INTERNAL, "user metadata not found"))
    with pytest.raises(tigris.InternalServerError):
        fake_client.user.update_metadata(metadata_key="k", value=1)


# --- The public interceptor on a user's own channel ----------------------------------------------


def test_interceptor_on_a_users_channel(fake: FakeServer) -> None:
    fake.on(GET_USER_METADATA, Reply(get_response(value=b"1")))
    channel = grpc.intercept_channel(grpc.insecure_channel(fake.url), BearerAuthInterceptor("tok"))
    with channel:
        stub = management_pb2_grpc.ManagementStub(channel)
        request = management_pb2.GetUserMetadataRequest(metadataKey="k")
        assert stub.GetUserMetadata(request, timeout=5).value == b"1"
        stub.GetUserMetadata(request, timeout=5, metadata=(("x-request-id", "r1"),))
    first, second = fake.calls
    assert first.header("authorization") == "Bearer tok"
    assert pairs(second.metadata) == [("x-request-id", "r1"), ("authorization", "Bearer tok")]


def test_interceptor_with_a_token_provider(fake: FakeServer) -> None:
    fake.on(GET_USER_METADATA, Reply())
    tokens = iter(["one", "two"])
    channel = grpc.intercept_channel(grpc.insecure_channel(fake.url), BearerAuthInterceptor(lambda: next(tokens)))
    with channel:
        stub = management_pb2_grpc.ManagementStub(channel)
        stub.GetUserMetadata(management_pb2.GetUserMetadataRequest(metadataKey="k"), timeout=5)
        stub.GetUserMetadata(management_pb2.GetUserMetadataRequest(metadataKey="k"), timeout=5)
    assert [call.header("authorization") for call in fake.calls] == ["Bearer one", "Bearer two"]


def test_interceptor_keeps_wait_for_ready_and_timeout() -> None:
    # Nothing listens: without wait_for_ready the call fails at once with UNAVAILABLE; with it,
    # the call waits for the server until its deadline. If the interceptor dropped the timeout,
    # the call would wait for ever (the future below would not finish).
    port = free_port()
    channel = grpc.intercept_channel(grpc.insecure_channel(f"127.0.0.1:{port}"), BearerAuthInterceptor("tok"))
    with channel:
        stub = management_pb2_grpc.ManagementStub(channel)
        request = management_pb2.GetUserMetadataRequest(metadataKey="k")
        with pytest.raises(grpc.RpcError) as failed:
            stub.GetUserMetadata(request, timeout=5)
        assert failed.value.code() == UNAVAILABLE
        future = stub.GetUserMetadata.future(request, timeout=0.5, wait_for_ready=True)
        try:
            error = future.exception(timeout=20)
        finally:
            future.cancel()
        assert isinstance(error, grpc.RpcError)
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_interceptor_wait_for_ready_reaches_a_late_server() -> None:
    port = free_port()
    channel = grpc.intercept_channel(grpc.insecure_channel(f"127.0.0.1:{port}"), BearerAuthInterceptor("tok"))
    with channel:
        stub = management_pb2_grpc.ManagementStub(channel)
        request = management_pb2.GetUserMetadataRequest(metadataKey="k")
        future = stub.GetUserMetadata.future(request, timeout=20, wait_for_ready=True)
        try:
            with fake_server(port=port) as late:
                late.on(GET_USER_METADATA, Reply(get_response(value=b"2")))
                # The call waited for the server instead of failing UNAVAILABLE.
                assert future.result(timeout=20).value == b"2"
        finally:
            future.cancel()
    (call,) = late.calls
    assert call.header("authorization") == "Bearer tok"


# --- Secrets -------------------------------------------------------------------------------------


def test_the_token_never_appears_in_reprs_or_errors(tigris_server: LocalTigrisServer) -> None:
    secret = "sEcReT-" + "z" * 40
    s = tigris.Tigris(bearer_auth=secret, server_url=tigris_server.url)
    with s:
        assert secret not in repr(s)
        with pytest.raises(tigris.UnauthenticatedError) as caught:
            s.user.get_metadata(metadata_key="k")
    error = caught.value
    assert error.status_code == 401
    for text in (
        str(error),
        repr(error),
        error.body,
        "".join(traceback.format_exception(type(error), error, error.__traceback__)),
    ):
        assert secret not in text
        assert "zzzzzzzzzz" not in text
    interceptor = BearerAuthInterceptor(secret)
    assert secret not in repr(interceptor)


def test_a_malformed_token_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="bearer token") as caught:
        tigris.Tigris(bearer_auth="has space secret-part", server_url="127.0.0.1:1")
    assert "secret-part" not in str(caught.value)


@pytest.mark.parametrize(
    "stored",
    [
        b"[" * 5000 + b"]" * 5000,  # valid JSON, nested deeper than Python can decode
        b"\xff\xfe not json",  # bytes another client stored as they were
        b'{"half": ',
    ],
)
def test_values_other_clients_stored_come_back_as_bytes(
    fake: FakeServer, fake_client: tigris.Tigris, stored: bytes
) -> None:
    """Nothing is lost and nothing crashes: a value that cannot be read as JSON is returned raw."""
    fake.on(GET_USER_METADATA, Reply(get_response(value=stored)))
    body = fake_client.user.get_metadata(metadata_key="k").get_user_metadata_response
    assert body is not None
    assert body.value == stored


@pytest.mark.parametrize("stored", [b' {"a": 1} ', b"\xef\xbb\xbf[1]", '"é"'.encode("utf-16")])
def test_json_in_any_encoding_json_accepts_is_decoded(
    fake: FakeServer, fake_client: tigris.Tigris, stored: bytes
) -> None:
    fake.on(GET_USER_METADATA, Reply(get_response(value=stored)))
    body = fake_client.user.get_metadata(metadata_key="k").get_user_metadata_response
    assert body is not None
    assert body.value == json.loads(stored)
