"""`AsyncTigris` against the local server and a scripted one: the REST example, concurrency, auth,
cancellation, deadlines, retries, error mapping (the same as `Tigris`) and lifecycle.

The scripted server is a small in-process grpc server whose handlers block, fail a set number of
times or answer oddly, for what the local server never does.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
import pytest_asyncio

import tigris_grpc
from tigris_grpc import (
    AsyncTigris,
    ConflictError,
    DeadlineExceededError,
    InternalServerError,
    NotFoundError,
    PreconditionFailedError,
    SDKError,
    Tigris,
    UnauthenticatedError,
    UnavailableError,
)
from tigris_grpc._auth import ClientCredentialsAuth
from tigris_grpc._pb import health_pb2, management_pb2
from tigris_grpc.models import operations, shared
from tigris_grpc.server import LocalTigrisServer
from tigris_grpc.testing import local_tigris

_MGMT = "/tigrisdata.management.v1.Management/"


def _read(answer: operations.ManagementGetUserMetadataResponse) -> shared.GetUserMetadataResponse:
    body = answer.get_user_metadata_response
    assert body is not None
    return body


def _credentials_auth(client: AsyncTigris) -> ClientCredentialsAuth:
    auth = client._settings.auth
    assert isinstance(auth, ClientCredentialsAuth)
    return auth


@pytest_asyncio.fixture
async def alice(tigris_server: LocalTigrisServer) -> AsyncIterator[AsyncTigris]:
    """An AsyncTigris signed in as "alice" in default_namespace."""
    async with AsyncTigris(bearer_auth=tigris_server.mint_token("alice"), server_url=tigris_server.url, env={}) as s:
        yield s


# --- The REST SDK example, awaited ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_rest_sdk_example_with_await(tigris_server: LocalTigrisServer) -> None:
    # CONTRACT.md's REST example with `await` and the tigris_grpc import; nothing else changed.
    import tigris_grpc as tigris  # noqa: PLC0415 - the example's own import line

    s = tigris.AsyncTigris(bearer_auth=tigris_server.mint_token("alice"), server_url=tigris_server.url)
    try:
        req = operations.ManagementGetUserMetadataRequest(
            get_user_metadata_request=shared.GetUserMetadataRequest(),
            metadata_key="theme",
        )
        res = await s.user.get_metadata(req)
        assert res.status_code == 200
        assert res.get_user_metadata_response is not None
        assert res.get_user_metadata_response.value is None  # missing key: OK with no value

        inserted = await s.user.insert_metadata(
            operations.ManagementInsertUserMetadataRequest(
                insert_user_metadata_request=shared.InsertUserMetadataRequest(value={"dark": True}),
                metadata_key="theme",
            )
        )
        assert inserted.insert_user_metadata_response is not None
        assert inserted.insert_user_metadata_response.user_id == "alice"

        res = await s.user.get_metadata(req)
        assert res.get_user_metadata_response is not None
        assert res.get_user_metadata_response.value == {"dark": True}

        updated = await s.user.update_metadata(
            operations.ManagementUpdateUserMetadataRequest(
                update_user_metadata_request=shared.UpdateUserMetadataRequest(value={"dark": False}),
                metadata_key="theme",
            )
        )
        assert updated.update_user_metadata_response is not None
        assert updated.update_user_metadata_response.value == {"dark": False}
        res = await s.user.get_metadata(req)
        assert res.get_user_metadata_response is not None
        assert res.get_user_metadata_response.value == {"dark": False}
    finally:
        await s.close()


# --- Concurrency ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_thousand_concurrent_calls_each_get_their_own_answer(alice: AsyncTigris) -> None:
    run = uuid.uuid4().hex
    seeded = {f"seed-{i}": {"seed": i, "run": run} for i in range(500)}
    await asyncio.gather(*(alice.user.update_metadata(metadata_key=k, value=v) for k, v in seeded.items()))

    # 500 updates of fresh keys and 500 reads of seeded ones, all in flight together.
    written = {f"new-{i}": [i, run, "x" * (i % 37)] for i in range(500)}
    calls: list[Awaitable[Any]] = []
    expected: list[tuple[str, str, Any]] = []
    for i in range(500):
        key = f"new-{i}"
        calls.append(alice.user.update_metadata(metadata_key=key, value=written[key]))
        expected.append(("update", key, written[key]))
        key = f"seed-{(i * 7) % 500}"  # a different order from the seeding
        calls.append(alice.user.get_metadata(metadata_key=key))
        expected.append(("get", key, seeded[key]))
    answers = await asyncio.gather(*calls)

    assert len(answers) == 1000
    for answer, (kind, key, value) in zip(answers, expected):
        body = answer.update_user_metadata_response if kind == "update" else answer.get_user_metadata_response
        assert (body.metadata_key, body.value, body.user_id) == (key, value, "alice")

    stored = await asyncio.gather(*(alice.user.get_metadata(metadata_key=k) for k in written))
    assert [_read(a).value for a in stored] == list(written.values())


# --- Auth -----------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["coroutine function", "plain function"])
async def test_token_provider_is_called_per_call(tigris_server: LocalTigrisServer, kind: str) -> None:
    token = tigris_server.mint_token("carol")
    calls = 0

    async def async_provider() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)  # a real provider would await a secret store here
        return token

    def sync_provider() -> str:
        nonlocal calls
        calls += 1
        return token

    provider: Callable[[], Any] = async_provider if kind == "coroutine function" else sync_provider
    async with AsyncTigris(bearer_auth=provider, server_url=tigris_server.url, env={}) as s:
        await s.user.insert_metadata(metadata_key="k", value="v")
        got = await s.user.get_metadata(metadata_key="k")
    assert got.get_user_metadata_response is not None
    assert (got.get_user_metadata_response.user_id, got.get_user_metadata_response.value) == ("carol", "v")
    assert calls == 2


def test_async_token_provider_is_refused_by_the_sync_client(tigris_server: LocalTigrisServer) -> None:
    async def provider() -> str:
        return tigris_server.mint_token("carol")

    with Tigris(bearer_auth=provider, server_url=tigris_server.url, env={}) as s, pytest.raises(TypeError):
        s.user.get_metadata(metadata_key="k")


@pytest.mark.asyncio
async def test_client_credentials_fetch_one_token_for_200_tasks_started_together(
    tigris_server: LocalTigrisServer,
) -> None:
    s = AsyncTigris(
        client_id=tigris_server.client_id,
        client_secret=tigris_server.client_secret,
        server_url=tigris_server.url,
        env={},
    )
    async with s:
        answers = await asyncio.gather(*(s.user.get_metadata(metadata_key=f"k{i}") for i in range(200)))
        assert _credentials_auth(s).fetch_count == 1
    users = {_read(a).user_id for a in answers}
    assert users == {tigris_server.client_id}  # the token's sub is the client id


@pytest.mark.asyncio
async def test_short_lived_tokens_are_refreshed_without_failures() -> None:
    with local_tigris(token_ttl=2) as server:
        s = AsyncTigris(client_id=server.client_id, client_secret=server.client_secret, server_url=server.url, env={})
        failures: list[BaseException] = []
        done = 0
        async with s:
            end = time.monotonic() + 4.5  # over two token lifetimes
            while time.monotonic() < end:
                batch = [s.user.update_metadata(metadata_key=f"k{i % 5}", value=i) for i in range(20)]
                results = await asyncio.gather(*batch, return_exceptions=True)
                failures += [r for r in results if isinstance(r, BaseException)]
                done += len(results)
            fetches = _credentials_auth(s).fetch_count
    assert failures == []
    assert done > 100
    # Refreshed as tokens aged (at least twice in 4.5 s), never a stampede (one per call would
    # be hundreds). The server's whole-second expiry may cost one forced refresh per lifetime.
    assert 2 <= fetches <= 10


@pytest.mark.asyncio
async def test_bad_client_secret_is_unauthenticated_401(tigris_server: LocalTigrisServer) -> None:
    async with AsyncTigris(
        client_id=tigris_server.client_id, client_secret="wrong", server_url=tigris_server.url, env={}
    ) as s:
        with pytest.raises(UnauthenticatedError) as info:
            await s.user.get_metadata(metadata_key="k")
        with pytest.raises(UnauthenticatedError) as explicit:
            await s.auth.get_access_token(client_id=tigris_server.client_id, client_secret="also wrong")
    for error in (info.value, explicit.value):
        assert error.status_code == 401
        assert error.code == "UNAUTHENTICATED"
        assert "Invalid credentials" in error.message  # the server's own words are kept
        assert "wrong" not in str(error)  # the secret is not


# --- A scripted server: blocking, flaky and unhealthy handlers ------------------------------------


@dataclass
class _Script(grpc.GenericRpcHandler):
    """Handlers by method path, counting the attempts each path received."""

    handlers: dict[str, Callable[[bytes, grpc.ServicerContext], bytes]] = field(default_factory=dict)
    attempts: Counter[str] = field(default_factory=Counter)
    release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[bytes, bytes] | None:
        path = handler_call_details.method
        behaviour = self.handlers.get(path)
        if behaviour is None:
            return None

        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            with self._lock:
                self.attempts[path] += 1
            return behaviour(request, context)

        return grpc.unary_unary_rpc_method_handler(handle)

    def block(self, path: str) -> tuple[threading.Event, threading.Event]:
        """Make ``path`` wait until the client goes away; returns (started, saw_cancellation)."""
        started, cancelled = threading.Event(), threading.Event()

        def handle(_request: bytes, context: grpc.ServicerContext) -> bytes:
            started.set()
            while context.is_active() and not self.release.wait(0.01):
                pass
            if not context.is_active():
                cancelled.set()
            return b""

        self.handlers[path] = handle
        return started, cancelled

    def fail_first(self, path: str, failures: int, answer: bytes) -> None:
        """Answer ``path`` UNAVAILABLE ``failures`` times, then ``answer``."""

        def handle(_request: bytes, context: grpc.ServicerContext) -> bytes:
            if self.attempts[path] <= failures:
                context.abort(grpc.StatusCode.UNAVAILABLE, "try again")
            return answer

        self.handlers[path] = handle


@pytest.fixture
def scripted() -> Iterator[tuple[_Script, str]]:
    script = _Script()
    server = grpc.server(ThreadPoolExecutor(max_workers=8), handlers=[script])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield script, f"127.0.0.1:{port}"
    finally:
        script.release.set()  # let blocked handlers return before the server stops
        server.stop(None).wait()


async def _call(kind: str, url: str, sub: str, method: str, client_options: dict[str, Any], **kwargs: Any) -> Any:
    """One call on a fresh client of ``kind`` ("sync" runs in a worker thread)."""
    options: dict[str, Any] = {"bearer_auth": "t", "server_url": url, "env": {}, **client_options}
    if kind == "async":
        async with AsyncTigris(**options) as client:
            owner = getattr(client, sub) if sub else client
            return await getattr(owner, method)(**kwargs)

    def run() -> Any:
        with Tigris(**options) as client:
            owner = getattr(client, sub) if sub else client
            return getattr(owner, method)(**kwargs)

    return await asyncio.to_thread(run)


KINDS = ["sync", "async"]


@pytest.mark.asyncio
async def test_cancelling_a_task_cancels_its_rpc(scripted: tuple[_Script, str]) -> None:
    script, url = scripted
    started, cancelled = script.block(f"{_MGMT}GetUserMetadata")
    async with AsyncTigris(bearer_auth="t", server_url=url, env={}) as s:
        task = asyncio.create_task(s.user.get_metadata(metadata_key="k", timeout=30))
        assert await asyncio.to_thread(started.wait, 10), "the call never reached the server"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        # The server saw the RPC end while its handler was still running: the cancel travelled.
        assert await asyncio.to_thread(cancelled.wait, 10), "the server never saw the cancellation"
        assert script.attempts[f"{_MGMT}GetUserMetadata"] == 1
        # The client still works after a cancelled call.
        answer = management_pb2.GetUserMetadataResponse(metadataKey="k", value=b"1")
        script.fail_first(f"{_MGMT}GetUserMetadata", 0, answer.SerializeToString())
        got = await s.user.get_metadata(metadata_key="k")
        assert got.get_user_metadata_response is not None
        assert got.get_user_metadata_response.value == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("where", ["per call", "client default"])
async def test_deadline_exceeded_is_504(scripted: tuple[_Script, str], kind: str, where: str) -> None:
    script, url = scripted
    started, _ = script.block(f"{_MGMT}GetUserMetadata")
    per_call = {"timeout": 0.3} if where == "per call" else {}
    client_options = {"timeout": 0.3} if where == "client default" else {}
    with pytest.raises(DeadlineExceededError) as info:
        await _call(kind, url, "user", "get_metadata", client_options, metadata_key="k", **per_call)
    assert started.is_set()
    assert info.value.status_code == 504
    assert info.value.code == "DEADLINE_EXCEEDED"
    assert info.value.grpc_code == grpc.StatusCode.DEADLINE_EXCEEDED


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_reads_are_retried_on_unavailable(scripted: tuple[_Script, str], kind: str) -> None:
    script, url = scripted
    path = f"{_MGMT}GetUserMetadata"
    answer = management_pb2.GetUserMetadataResponse(metadataKey="k", userId="u", namespaceId=1, value=b'{"ok":1}')
    script.fail_first(path, 2, answer.SerializeToString())
    got = await _call(kind, url, "user", "get_metadata", {}, metadata_key="k")
    assert got.get_user_metadata_response.value == {"ok": 1}
    assert script.attempts[path] == 3


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_inserts_are_never_retried(scripted: tuple[_Script, str], kind: str) -> None:
    script, url = scripted
    path = f"{_MGMT}InsertUserMetadata"
    script.fail_first(path, 1, management_pb2.InsertUserMetadataResponse().SerializeToString())
    with pytest.raises(UnavailableError) as info:
        await _call(kind, url, "user", "insert_metadata", {}, metadata_key="k", value=1)
    assert info.value.status_code == 503
    assert script.attempts[path] == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_health_not_ok_raises_sdk_error(scripted: tuple[_Script, str], kind: str) -> None:
    script, url = scripted
    script.fail_first("/HealthAPI/Health", 0, health_pb2.HealthCheckResponse(response="DRAINING").SerializeToString())
    with pytest.raises(SDKError) as info:
        await _call(kind, url, "", "health", {})
    assert "DRAINING" in info.value.message


# --- Errors map exactly as on the sync client -----------------------------------------------------

# (sub-client, method, kwargs): the steps of a scenario; only the last one fails.
_Step = tuple[str, str, dict[str, Any]]


@dataclass(frozen=True)
class _ErrorCase:
    name: str
    token: Callable[[LocalTigrisServer, str], str | None]
    steps: Callable[[str], list[_Step]]
    error: type[SDKError]
    status_code: int


def _own_token(server: LocalTigrisServer, user: str) -> str:
    return server.mint_token(user)


ERROR_CASES = [
    _ErrorCase(
        "insert of an existing key",
        _own_token,
        lambda user: [("user", "insert_metadata", {"metadata_key": "dup", "value": 1})] * 2,
        InternalServerError,
        500,
    ),
    _ErrorCase(
        "namespace insert of an existing key",
        _own_token,
        lambda user: [("namespace", "insert_metadata", {"metadata_key": f"dup-{user}", "value": 1})] * 2,
        InternalServerError,
        500,
    ),
    _ErrorCase(
        "no token",
        lambda server, user: None,
        lambda user: [("user", "get_metadata", {"metadata_key": "k"})],
        UnauthenticatedError,
        401,
    ),
    _ErrorCase(
        "expired token",
        lambda server, user: server.mint_token(user, ttl=0),
        lambda user: [("user", "get_metadata", {"metadata_key": "k"})],
        UnauthenticatedError,
        401,
    ),
    _ErrorCase(
        "token for a namespace that does not exist",
        lambda server, user: server.mint_token(user, namespace=f"gone-{user}"),
        lambda user: [("user", "get_metadata", {"metadata_key": "k"})],
        NotFoundError,
        404,
    ),
    _ErrorCase(
        "delete of an unknown namespace",
        _own_token,
        lambda user: [("namespace", "delete", {"namespace_id": f"nope-{user}"})],
        NotFoundError,
        404,
    ),
    _ErrorCase(
        "delete of default_namespace",
        _own_token,
        lambda user: [("namespace", "delete", {"namespace_id": "default_namespace"})],
        PreconditionFailedError,
        412,
    ),
    _ErrorCase(
        "create of an existing namespace",
        _own_token,
        lambda user: [("namespace", "create", {"name": f"team-{user}"})] * 2,
        ConflictError,
        409,
    ),
]


async def _run_steps(kind: str, server: LocalTigrisServer, case: _ErrorCase, user: str) -> SDKError:
    token = case.token(server, user)
    steps = case.steps(user)

    async def run_async() -> None:
        async with AsyncTigris(bearer_auth=token, server_url=server.url, env={}) as s:
            for sub, method, kwargs in steps:
                await getattr(getattr(s, sub), method)(**kwargs)

    def run_sync() -> None:
        with Tigris(bearer_auth=token, server_url=server.url, env={}) as s:
            for sub, method, kwargs in steps:
                getattr(getattr(s, sub), method)(**kwargs)

    with pytest.raises(SDKError) as info:
        await (run_async() if kind == "async" else asyncio.to_thread(run_sync))
    return info.value


@pytest.mark.asyncio
@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: c.name)
async def test_errors_map_the_same_on_both_clients(case: _ErrorCase) -> None:
    errors: dict[str, SDKError] = {}
    for kind in KINDS:
        with local_tigris() as server:  # one fresh server each, so the answers can be identical
            errors[kind] = await _run_steps(kind, server, case, user="bob")
    for kind, error in errors.items():
        assert type(error) is case.error, kind
        assert error.status_code == case.status_code, kind
        assert isinstance(error.raw_response, grpc.RpcError), kind
        assert error.__cause__ is error.raw_response, kind
    sync, async_ = errors["sync"], errors["async"]
    assert (sync.message, sync.body, str(sync)) == (async_.message, async_.body, str(async_))
    assert (sync.code, sync.grpc_code, sync.retry_delay) == (async_.code, async_.grpc_code, async_.retry_delay)


@pytest.mark.asyncio
async def test_invalid_arguments_fail_before_any_io() -> None:
    # No server: a request that reached the network would fail with UnavailableError instead.
    async with AsyncTigris(bearer_auth="t", server_url="unix:/nonexistent/tigris.sock", env={}) as s:
        with pytest.raises(ValueError, match="metadata_key"):
            await s.user.get_metadata(metadata_key="")
        with pytest.raises(ValueError, match="value"):
            await s.user.update_metadata(metadata_key="k", value=None)
        with pytest.raises(ValueError, match="not both"):
            await s.user.get_metadata(operations.ManagementGetUserMetadataRequest(metadata_key="k"), metadata_key="k")
        with pytest.raises(ValueError, match="timeout"):
            await s.user.get_metadata(metadata_key="k", timeout=-1)


# --- Lifecycle ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_async_with_closes_and_later_calls_raise_runtime_error(tigris_server: LocalTigrisServer) -> None:
    async with AsyncTigris(bearer_auth=tigris_server.mint_token("alice"), server_url=tigris_server.url, env={}) as s:
        assert await s.health() is True
    with pytest.raises(RuntimeError, match="closed"):
        await s.user.get_metadata(metadata_key="k")
    with pytest.raises(RuntimeError, match="closed"):
        await s.health()
    await s.close()  # closing twice is harmless


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", KINDS)
async def test_a_client_closed_before_its_first_call_raises_runtime_error(
    tigris_server: LocalTigrisServer, kind: str
) -> None:
    # Client credentials: the first call would fetch a token on the closed channel.
    options: dict[str, Any] = {
        "client_id": tigris_server.client_id,
        "client_secret": tigris_server.client_secret,
        "server_url": tigris_server.url,
        "env": {},
    }
    if kind == "async":
        s = AsyncTigris(**options)
        await s.close()
        with pytest.raises(RuntimeError, match="closed"):
            await s.user.get_metadata(metadata_key="k")
        with pytest.raises(RuntimeError, match="closed"):
            await s.auth.get_access_token()
        return
    sync = Tigris(**options)
    sync.close()
    with pytest.raises(RuntimeError, match="closed"):
        sync.user.get_metadata(metadata_key="k")
    with pytest.raises(RuntimeError, match="closed"):
        sync.auth.get_access_token()


@pytest.mark.asyncio
async def test_a_closed_client_that_needs_a_new_token_raises_runtime_error() -> None:
    with local_tigris(token_ttl=1) as server:
        s = AsyncTigris(client_id=server.client_id, client_secret=server.client_secret, server_url=server.url, env={})
        async with s:
            await s.user.get_metadata(metadata_key="k")
        await asyncio.sleep(1.1)  # the token has expired: the next call would fetch one
        with pytest.raises(RuntimeError, match="closed"):
            await s.user.get_metadata(metadata_key="k")


def test_constructed_outside_an_event_loop_no_warning_and_no_io() -> None:
    listener = socket.socket()
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(0.3)
        url = f"127.0.0.1:{listener.getsockname()[1]}"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client = AsyncTigris(client_id="id", client_secret="secret", server_url=url, env={})
            plain = AsyncTigris(bearer_auth="t", server_url=url, env={})
        assert [str(w.message) for w in caught] == []
        with pytest.raises(socket.timeout):  # TimeoutError from Python 3.10 on
            listener.accept()  # nobody connected

        async def first_call() -> None:
            # Only a call, inside a loop, connects: the listener sees it (it never answers).
            async with plain:
                with pytest.raises(DeadlineExceededError):
                    await plain.user.get_metadata(metadata_key="k", timeout=0.5)
            await client.close()

        asyncio.run(first_call())
        connection, _ = listener.accept()
        connection.close()
    finally:
        listener.close()


def test_async_tigris_is_exported_with_the_sync_constructor() -> None:
    assert tigris_grpc.AsyncTigris is AsyncTigris
    assert inspect.signature(AsyncTigris) == inspect.signature(Tigris)


def test_a_client_used_from_a_second_event_loop_says_so(tigris_server: LocalTigrisServer) -> None:
    """grpc.aio channels belong to one loop; a second loop gets a plain RuntimeError, not grpc's."""
    client = AsyncTigris(bearer_auth=tigris_server.mint_token("loops"), server_url=tigris_server.url)

    async def read() -> object:
        return (await client.user.get_metadata(metadata_key="k")).get_user_metadata_response

    assert asyncio.run(read()) is not None
    with pytest.raises(RuntimeError, match="event loop"):
        asyncio.run(read())


@pytest.mark.asyncio
async def test_a_hanging_async_token_provider_is_bounded_by_the_deadline(tigris_server: LocalTigrisServer) -> None:
    async def slow_provider() -> str:
        await asyncio.sleep(30)
        return tigris_server.mint_token("late")

    async with AsyncTigris(bearer_auth=slow_provider, server_url=tigris_server.url) as client:
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError) as caught:
            await client.user.get_metadata(metadata_key="k", timeout=0.5)
    assert time.monotonic() - started < 2
    assert caught.value.status_code == 504
