"""Client-credentials auth (issue 5): token exchange, refresh ahead of expiry, one refresh at a time.

The local server issues real tokens; the fake server (alone, or recording in front of the local
server) shows what crosses the wire and answers as a test needs. A fake clock in `_auth` moves
time forward without sleeping.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from _fake_server import (
    GET_ACCESS_TOKEN,
    GET_USER_METADATA,
    INSERT_USER_METADATA,
    Abort,
    FakeServer,
    Forward,
    Reply,
    Sleep,
    fake_server,
)

import tigris_grpc as tigris
from tigris_grpc import _auth
from tigris_grpc._auth import ClientCredentialsAuth
from tigris_grpc._pb import auth_pb2, management_pb2
from tigris_grpc.server import LocalTigrisServer, ServerConfig
from tigris_grpc.testing import local_tigris

SECRET = "s3cr3t-" + "q" * 24
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    """A fake server for one test."""
    with fake_server() as server:
        yield server


def credentials(client: tigris.Tigris) -> ClientCredentialsAuth:
    """The client's token source, for its ``fetch_count``."""
    source = client._settings.credentials
    assert source is not None
    return source


def token_response(token: str, expires_in: int = 100) -> Reply:
    """A GetAccessToken answer."""
    return Reply(auth_pb2.GetAccessTokenResponse(access_token=token, expires_in=expires_in).SerializeToString())


def get_response(value: bytes = b"1") -> Reply:
    """A GetUserMetadata answer."""
    return Reply(management_pb2.GetUserMetadataResponse(metadataKey="k", value=value).SerializeToString())


def bearers(server: FakeServer, method: str = GET_USER_METADATA) -> list[str | bytes | None]:
    """The authorization header of each call to ``method``."""
    return [call.header("authorization") for call in server.calls_to(method)]


class FakeClock:
    """Stands in for the `time` module inside `_auth`: monotonic time that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Token lifetimes in `_auth` measured on a fake clock."""
    fake_clock = FakeClock()
    monkeypatch.setattr(_auth, "time", fake_clock)
    return fake_clock


# --- Exchange and reuse --------------------------------------------------------------------------


def test_first_call_fetches_one_token_and_later_calls_reuse_it(
    tigris_server: LocalTigrisServer, fake: FakeServer
) -> None:
    fake.on("*", Forward(tigris_server.url))  # record what crosses the wire to the real thing
    with tigris.Tigris(
        client_id=tigris_server.client_id, client_secret=tigris_server.client_secret, server_url=fake.url
    ) as s:
        assert fake.calls == []  # nothing before the first call
        for n in range(20):
            s.user.update_metadata(metadata_key="k", value=n)
        got = s.user.get_metadata(metadata_key="k").get_user_metadata_response
        assert credentials(s).fetch_count == 1
    assert got is not None
    assert (got.value, got.user_id) == (19, tigris_server.client_id)  # the token's sub is the client id

    (grant,) = fake.calls_to(GET_ACCESS_TOKEN)
    assert fake.calls[0] is grant  # fetched first, then used
    request = auth_pb2.GetAccessTokenRequest.FromString(grant.request)
    assert request.grant_type == auth_pb2.CLIENT_CREDENTIALS  # set explicitly: zero is REFRESH_TOKEN
    assert (request.client_id, request.client_secret) == (tigris_server.client_id, tigris_server.client_secret)
    assert grant.header("authorization") is None  # GetAccessToken needs no token
    used = set(bearers(fake, "/tigrisdata.management.v1.Management/UpdateUserMetadata") + bearers(fake))
    assert len(used) == 1
    assert str(used.pop()).startswith("Bearer ey")  # one JWT for all 21 calls


def test_sixty_four_threads_with_two_second_tokens() -> None:
    threads, duration = 64, 10.0
    with local_tigris(token_ttl=2) as server:
        s = tigris.Tigris(client_id=server.client_id, client_secret=server.client_secret, server_url=server.url)
        failures: list[str] = []
        calls = [0] * threads
        start = threading.Barrier(threads)

        def worker(index: int) -> None:
            start.wait()
            end = time.monotonic() + duration
            n = 0
            while time.monotonic() < end:
                try:
                    answer = s.user.update_metadata(metadata_key=f"k{index}", value=n).update_user_metadata_response
                    if answer is None or (answer.metadata_key, answer.value) != (f"k{index}", n):
                        failures.append(f"thread {index}: wrong answer {answer!r}")
                except Exception as exc:
                    failures.append(f"thread {index}: {exc!r}")
                n += 1
            calls[index] = n

        with s:
            pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join(timeout=duration + 30)
            fetches = credentials(s).fetch_count
    assert not any(thread.is_alive() for thread in pool)
    assert failures == []
    assert all(calls), calls
    # Tokens live 2 s and are refreshed well ahead of expiry: about one fetch per refresh
    # interval (0.5 to 1 s), never one per thread (x64) nor one per call (thousands).
    assert 3 <= fetches <= 20, fetches


def test_concurrent_first_calls_fetch_once(tigris_server: LocalTigrisServer, fake: FakeServer) -> None:
    fake.on("*", Forward(tigris_server.url))
    threads = 32
    start = threading.Barrier(threads)
    errors: list[BaseException] = []
    with tigris.Tigris(
        client_id=tigris_server.client_id, client_secret=tigris_server.client_secret, server_url=fake.url
    ) as s:

        def first_call() -> None:
            start.wait()
            try:
                s.user.get_metadata(metadata_key="k")
            except Exception as exc:
                errors.append(exc)

        pool = [threading.Thread(target=first_call) for _ in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(timeout=30)
        assert credentials(s).fetch_count == 1
    assert errors == []
    assert len(fake.calls_to(GET_ACCESS_TOKEN)) == 1
    assert len(fake.calls_to(GET_USER_METADATA)) == threads


# --- Failures ------------------------------------------------------------------------------------


def test_bad_client_secret_is_a_clear_401_on_the_first_call(tigris_server: LocalTigrisServer) -> None:
    with tigris.Tigris(client_id=tigris_server.client_id, client_secret=SECRET, server_url=tigris_server.url) as s:
        with pytest.raises(tigris.SDKError) as caught:
            s.user.get_metadata(metadata_key="k")
        # Not cached as a failure: the next call asks again, and fails the same way.
        with pytest.raises(tigris.UnauthenticatedError):
            s.user.get_metadata(metadata_key="k")
    error = caught.value
    assert type(error) is tigris.UnauthenticatedError
    assert not isinstance(error, tigris.UnavailableError)
    assert (error.status_code, error.code, error.grpc_code) == (401, "UNAUTHENTICATED", UNAUTHENTICATED)
    assert "could not obtain an access token" in error.message
    assert "Invalid credentials" in error.message  # the server's own words are kept
    assert isinstance(error.__cause__, grpc.RpcError)
    for text in (
        str(error),
        repr(error),
        error.body,
        "".join(traceback.format_exception(type(error), error, error.__traceback__)),
    ):
        assert SECRET not in text


def test_unknown_client_id_is_a_401(tigris_server: LocalTigrisServer) -> None:
    with (
        tigris.Tigris(client_id="nobody", client_secret=SECRET, server_url=tigris_server.url) as s,
        pytest.raises(tigris.UnauthenticatedError, match="could not obtain an access token") as caught,
    ):
        s.user.insert_metadata(metadata_key="k", value=1)
    assert caught.value.status_code == 401


@pytest.mark.parametrize(
    ("answer", "cls", "says"),
    [
        (Abort(grpc.StatusCode.PERMISSION_DENIED, "no tokens for you"), tigris.PermissionDeniedError, "no tokens"),
        (Abort(grpc.StatusCode.INTERNAL, "token service broke"), tigris.InternalServerError, "token service broke"),
        (token_response("", 100), tigris.InternalServerError, "no usable token"),
        (token_response("tok", 0), tigris.InternalServerError, "no usable token"),
    ],
    ids=["permission denied", "internal", "empty token", "no lifetime"],
)
def test_token_fetch_failures_keep_the_servers_code(
    fake: FakeServer, answer: Abort | Reply, cls: type[tigris.SDKError], says: str
) -> None:
    fake.on(GET_ACCESS_TOKEN, answer)
    with (
        tigris.Tigris(client_id="id", client_secret=SECRET, server_url=fake.url) as s,
        pytest.raises(tigris.SDKError) as caught,
    ):
        s.user.get_metadata(metadata_key="k")
    assert type(caught.value) is cls
    assert "could not obtain an access token" in caught.value.message
    assert says in caught.value.message
    assert fake.calls_to(GET_USER_METADATA) == []  # never called without a token


def test_a_failed_refresh_does_not_poison_the_cache(fake: FakeServer, clock: FakeClock) -> None:
    fake.on(GET_USER_METADATA, get_response())
    fake.on(GET_ACCESS_TOKEN, token_response("tok-1", expires_in=100))
    with tigris.Tigris(client_id="id", client_secret=SECRET, server_url=fake.url) as s:
        s.user.get_metadata(metadata_key="k")
        clock.now += 50  # mid-life: the cached token is used as it is
        s.user.get_metadata(metadata_key="k")
        assert len(fake.calls_to(GET_ACCESS_TOKEN)) == 1

        # Due for a refresh (a 100 s token is refreshed 21 to 27 s before it expires), and the
        # token service fails: calls keep working with the still-valid token.
        fake.on(GET_ACCESS_TOKEN, Abort(grpc.StatusCode.UNAVAILABLE, "token service down"))
        clock.now += 40
        s.user.get_metadata(metadata_key="k")
        attempts = len(fake.calls_to(GET_ACCESS_TOKEN))
        clock.now += 1
        s.user.get_metadata(metadata_key="k")
        assert bearers(fake)[-2:] == ["Bearer tok-1", "Bearer tok-1"]
        # The failed service is not asked again by every call: the next attempt waits a little.
        assert len(fake.calls_to(GET_ACCESS_TOKEN)) == attempts

        # The service is back: once that short pause (at most 5 s) is over, the next call refreshes.
        fake.on(GET_ACCESS_TOKEN, token_response("tok-2", expires_in=100))
        clock.now += 5
        s.user.get_metadata(metadata_key="k")
        assert bearers(fake)[-1] == "Bearer tok-2"

        # Once the token has expired, a failed refresh is an error: no call carries a dead token.
        fake.on(GET_ACCESS_TOKEN, Abort(grpc.StatusCode.INTERNAL, "token service broke"))
        clock.now += 150
        before = len(fake.calls_to(GET_USER_METADATA))
        with pytest.raises(tigris.InternalServerError, match="could not obtain an access token"):
            s.user.get_metadata(metadata_key="k")
        assert len(fake.calls_to(GET_USER_METADATA)) == before

        # And the cache recovers from that too.
        fake.on(GET_ACCESS_TOKEN, token_response("tok-3", expires_in=100))
        s.user.get_metadata(metadata_key="k")
        assert bearers(fake)[-1] == "Bearer tok-3"
        assert credentials(s).fetch_count == 3  # tokens stored; failed attempts are not counted


def test_refresh_happens_before_expiry(fake: FakeServer, clock: FakeClock) -> None:
    fake.on(GET_USER_METADATA, get_response())
    fake.on(GET_ACCESS_TOKEN, token_response("tok-1", expires_in=3600), token_response("tok-2", expires_in=3600))
    with tigris.Tigris(client_id="id", client_secret=SECRET, server_url=fake.url) as s:
        s.user.get_metadata(metadata_key="k")
        clock.now += 3200  # more than five minutes left: still the first token
        s.user.get_metadata(metadata_key="k")
        clock.now += 160  # four minutes before expiry (at most five with jitter): refreshed
        s.user.get_metadata(metadata_key="k")
    assert bearers(fake) == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


@pytest.mark.parametrize("lifetime", [2, 10, 60, 3600])
def test_refreshed_before_a_whole_second_exp_cuts_the_lifetime(
    fake: FakeServer, clock: FakeClock, lifetime: int
) -> None:
    # A JWT's exp is whole seconds: issued as int(now) + expires_in, a token said to live
    # `lifetime` seconds may die almost a second sooner. No call may carry it by then.
    issued = clock.now
    dies = issued + lifetime - 1

    def check_expiry(request: bytes, context: grpc.ServicerContext) -> bytes:
        if dict(context.invocation_metadata()).get("authorization") == "Bearer tok-1" and clock.now >= dies:
            context.abort(UNAUTHENTICATED, "Failed to validate access token: token has expired")
        return b""

    fake.on(GET_ACCESS_TOKEN, token_response("tok-1", lifetime), token_response("tok-2", lifetime))
    fake.on(GET_USER_METADATA, check_expiry)
    with tigris.Tigris(client_id="id", client_secret=SECRET, server_url=fake.url) as s:
        s.user.get_metadata(metadata_key="k")
        clock.now = dies - 0.05
        s.user.get_metadata(metadata_key="k")
    # Refreshed ahead of time: no call was refused and retried.
    assert bearers(fake) == ["Bearer tok-1", "Bearer tok-2"]


def package_locals(exc: BaseException) -> str:
    """The local variables of this package's frames in ``exc``'s traceback (and its causes), as an
    error reporter that captures locals would show them."""
    shown = []
    te: traceback.TracebackException | None = traceback.TracebackException.from_exception(exc, capture_locals=True)
    while te is not None:
        shown += [repr(frame.locals) for frame in te.stack if "/tigris_grpc/" in frame.filename]
        te = te.__cause__ or te.__context__
    return "\n".join(shown)


@pytest.mark.parametrize("caller", [None, [("x-request-id", "42")]])
def test_forced_refresh_works_with_caller_metadata_too(fake: FakeServer, caller: list[tuple[str, str]] | None) -> None:
    """Apps that send their own metadata on every call must recover from a 401 the same way."""

    def only_tok_2(request: bytes, context: grpc.ServicerContext) -> bytes:
        if dict(context.invocation_metadata()).get("authorization") != "Bearer tok-2":
            context.abort(UNAUTHENTICATED, "Failed to validate access token: token has expired")
        return b""

    fake.on(GET_ACCESS_TOKEN, token_response("tok-1"), token_response("tok-2"))
    fake.on(GET_USER_METADATA, only_tok_2)
    with tigris.Tigris(client_id="id", client_secret=SECRET, server_url=fake.url) as s:
        s.user.get_metadata(metadata_key="k", metadata=caller)
        assert credentials(s).fetch_count == 2
    last = fake.calls_to(GET_USER_METADATA)[-1]
    assert last.header("authorization") == "Bearer tok-2"
    if caller:
        assert last.header("x-request-id") == "42"


def test_the_deadline_covers_token_fetch_and_call_together(fake: FakeServer) -> None:
    """A 0.8 s token fetch plus a 0.8 s answer cannot fit in timeout=1: the call ends at 1 s."""
    fake.on(GET_ACCESS_TOKEN, Sleep(0.8, then=token_response("tok-1")))
    fake.on(GET_USER_METADATA, Sleep(0.8, then=get_response()))
    with tigris.Tigris(client_id="id", client_secret=SECRET, server_url=fake.url) as s:
        started = time.monotonic()
        with pytest.raises(tigris.DeadlineExceededError) as caught:
            s.user.get_metadata(metadata_key="k", timeout=1.0)
        elapsed = time.monotonic() - started
    assert caught.value.status_code == 504
    assert 0.9 < elapsed < 3  # about 1 s; the old behaviour succeeded after 1.6 s instead of failing


def test_tokens_stay_out_of_tracebacks_with_locals(fake: FakeServer) -> None:
    """The metadata our frames hold prints its authorization as hidden, for reporters that show locals."""
    fake.on(GET_ACCESS_TOKEN, token_response("secret-access-token-1"))
    fake.on(GET_USER_METADATA, Abort(grpc.StatusCode.INTERNAL, "boom"))
    token = "static-secret-token-2"
    for client in (
        tigris.Tigris(client_id="id", client_secret=SECRET, server_url=fake.url),
        tigris.Tigris(bearer_auth=token, server_url=fake.url),
    ):
        for caller in (None, [("x-request-id", "42")]):
            with pytest.raises(tigris.InternalServerError) as caught:
                client.user.get_metadata(metadata_key="k", metadata=caller)
            shown = package_locals(caught.value)
            assert "'<hidden>'" in shown
            assert "secret-access-token-1" not in shown
            assert token not in shown
        client.close()


def test_repr_of_a_client_whose_constructor_failed_does_not_crash() -> None:
    """Tracebacks with locals repr the half-built client: that must not raise over the real error."""
    with pytest.raises(ValueError, match="plaintext") as caught:
        tigris.Tigris(bearer_auth="tok", server_url="http://example.com:80")
    shown = "".join(traceback.TracebackException.from_exception(caught.value, capture_locals=True).format())
    assert "Tigris (not configured)" in shown


def test_unauthenticated_forces_one_refresh_and_one_retry(fake: FakeServer) -> None:
    def only_tok_2(request: bytes, context: grpc.ServicerContext) -> bytes:
        if dict(context.invocation_metadata()).get("authorization") != "Bearer tok-2":
            context.abort(UNAUTHENTICATED, "Failed to validate access token: token has expired")
        return b""

    fake.on(GET_ACCESS_TOKEN, token_response("tok-1"), token_response("tok-2"))
    fake.on(GET_USER_METADATA, only_tok_2)
    with tigris.Tigris(client_id="id", client_secret=SECRET, server_url=fake.url) as s:
        s.user.get_metadata(metadata_key="k")
        s.user.get_metadata(metadata_key="k")
        assert credentials(s).fetch_count == 2
    assert [call.method for call in fake.calls] == [
        GET_ACCESS_TOKEN,
        GET_USER_METADATA,
        GET_ACCESS_TOKEN,
        GET_USER_METADATA,
        GET_USER_METADATA,
    ]
    assert bearers(fake) == ["Bearer tok-1", "Bearer tok-2", "Bearer tok-2"]


def test_a_token_refused_again_after_the_refresh_is_an_error_not_a_loop(fake: FakeServer) -> None:
    fake.on(GET_ACCESS_TOKEN, token_response("tok-1"), token_response("tok-2"), token_response("tok-3"))
    fake.on(GET_USER_METADATA, Abort(UNAUTHENTICATED, "Request unauthenticated with bearer"))
    with (
        tigris.Tigris(client_id="id", client_secret=SECRET, server_url=fake.url) as s,
        pytest.raises(tigris.UnauthenticatedError) as caught,
    ):
        s.user.get_metadata(metadata_key="k")
    assert caught.value.status_code == 401
    assert bearers(fake) == ["Bearer tok-1", "Bearer tok-2"]  # one retry, with the new token
    assert len(fake.calls_to(GET_ACCESS_TOKEN)) == 2


def test_inserts_are_retried_after_unauthenticated(fake: FakeServer) -> None:
    # A 401 means the server did nothing, so repeating even an insert is safe.
    fake.on(GET_ACCESS_TOKEN, token_response("tok-1"), token_response("tok-2"))
    fake.on(INSERT_USER_METADATA, Abort(UNAUTHENTICATED, "expired"), Reply())
    with tigris.Tigris(client_id="id", client_secret=SECRET, server_url=fake.url) as s:
        s.user.insert_metadata(metadata_key="k", value=1)
    assert bearers(fake, INSERT_USER_METADATA) == ["Bearer tok-1", "Bearer tok-2"]


def test_a_callers_own_authorization_is_not_refreshed(fake: FakeServer) -> None:
    fake.on(GET_ACCESS_TOKEN, token_response("tok-1"))
    fake.on(GET_USER_METADATA, Abort(UNAUTHENTICATED, "not you"))
    with (
        tigris.Tigris(client_id="id", client_secret=SECRET, server_url=fake.url) as s,
        pytest.raises(tigris.UnauthenticatedError),
    ):
        s.user.get_metadata(metadata_key="k", metadata=[("authorization", "Bearer mine")])
    assert bearers(fake) == ["Bearer mine"]


def test_server_restarted_with_a_new_key() -> None:
    # An in-memory server makes a new signing key at each start: the cached token is refused,
    # and the client recovers with one forced refresh.
    first = LocalTigrisServer(ServerConfig(port=0))
    port = first.start()
    try:
        s = tigris.Tigris(client_id=first.client_id, client_secret=first.client_secret, server_url=first.url)
        s.user.update_metadata(metadata_key="k", value=1)
    finally:
        first.stop(grace=None)
    with s, LocalTigrisServer(ServerConfig(port=port)) as second:
        got = s.user.get_metadata(metadata_key="k", timeout=10).get_user_metadata_response
        assert got is not None
        assert got.value is None  # a fresh, empty server
        assert credentials(s).fetch_count == 2
        assert second.port == port


# --- Static tokens and providers -----------------------------------------------------------------


def test_static_tokens_are_never_refreshed(fake: FakeServer) -> None:
    fake.on(GET_USER_METADATA, Abort(UNAUTHENTICATED, "Request unauthenticated with bearer"))
    fake.on(GET_ACCESS_TOKEN, token_response("fresh"))
    env = {"TIGRIS_CLIENT_ID": "id", "TIGRIS_CLIENT_SECRET": SECRET}  # ignored: the token wins
    with (
        tigris.Tigris(bearer_auth="static-tok", server_url=fake.url, env=env) as s,
        pytest.raises(tigris.UnauthenticatedError) as caught,
    ):
        s.user.get_metadata(metadata_key="k")
    assert caught.value.status_code == 401
    assert bearers(fake) == ["Bearer static-tok"]
    assert fake.calls_to(GET_ACCESS_TOKEN) == []


def test_a_token_provider_is_called_for_each_call(fake: FakeServer) -> None:
    fake.on(GET_USER_METADATA, get_response())
    issued: list[str] = []

    def provider() -> str:
        issued.append(f"tok-{len(issued) + 1}")
        return issued[-1]

    with tigris.Tigris(bearer_auth=provider, server_url=fake.url) as s:
        assert issued == []  # not called by the constructor
        for _ in range(3):
            s.user.get_metadata(metadata_key="k")
    assert bearers(fake) == ["Bearer tok-1", "Bearer tok-2", "Bearer tok-3"]
    assert fake.calls_to(GET_ACCESS_TOKEN) == []


def test_a_provider_is_not_retried_on_unauthenticated(fake: FakeServer) -> None:
    fake.on(GET_USER_METADATA, Abort(UNAUTHENTICATED, "no"))
    calls: list[int] = []

    def provider() -> str:
        calls.append(1)
        return "tok"

    with tigris.Tigris(bearer_auth=provider, server_url=fake.url) as s, pytest.raises(tigris.UnauthenticatedError):
        s.user.get_metadata(metadata_key="k")
    assert len(calls) == 1
    assert len(fake.calls) == 1


def test_a_failing_provider_fails_the_call_before_any_io(fake: FakeServer) -> None:
    def broken() -> str:
        raise LookupError("vault unreachable")

    with (
        tigris.Tigris(bearer_auth=broken, server_url=fake.url) as s,
        pytest.raises(LookupError, match="vault unreachable"),
    ):
        s.user.get_metadata(metadata_key="k")

    def not_a_str() -> Any:
        return 42

    with (
        tigris.Tigris(bearer_auth=not_a_str, server_url=fake.url) as s,
        pytest.raises(TypeError, match="must be a str"),
    ):
        s.user.get_metadata(metadata_key="k")
    assert fake.calls == []


# --- Configuration -------------------------------------------------------------------------------


def test_credentials_from_the_environment(tigris_server: LocalTigrisServer) -> None:
    env = {
        "TIGRIS_URI": tigris_server.url,
        "TIGRIS_CLIENT_ID": tigris_server.client_id,
        "TIGRIS_CLIENT_SECRET": tigris_server.client_secret,
    }
    with tigris.Tigris(env=env) as s:
        got = s.user.get_metadata(metadata_key="k").get_user_metadata_response
        assert credentials(s).fetch_count == 1
    assert got is not None
    assert got.user_id == tigris_server.client_id


def test_explicit_credentials_win_over_an_environment_token(tigris_server: LocalTigrisServer) -> None:
    env = {"TIGRIS_TOKEN": "stale-env-token"}
    with tigris.Tigris(
        client_id=tigris_server.client_id,
        client_secret=tigris_server.client_secret,
        server_url=tigris_server.url,
        env=env,
    ) as s:
        s.user.get_metadata(metadata_key="k")


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"client_id": "id"}, "both client_id and client_secret"),
        ({"client_secret": SECRET}, "both client_id and client_secret"),
        ({"env": {"TIGRIS_CLIENT_ID": "id"}}, "both client_id and client_secret"),
        ({"bearer_auth": "tok", "client_id": "id", "client_secret": SECRET}, "either bearer_auth or client_id"),
    ],
    ids=["id only", "secret only", "env id only", "token and credentials"],
)
def test_incomplete_or_conflicting_credentials(kwargs: dict[str, object], says: str) -> None:
    kwargs.setdefault("env", {})
    with pytest.raises(ValueError, match=says) as caught:
        tigris.Tigris(server_url="127.0.0.1:1", **kwargs)  # type: ignore[arg-type]
    assert SECRET not in str(caught.value)


# --- Secrets -------------------------------------------------------------------------------------


def test_no_secret_or_token_in_reprs_errors_or_logs(
    tigris_server: LocalTigrisServer, fake: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="tigris_grpc")
    fake.on("*", Forward(tigris_server.url))
    texts: list[str] = []

    with tigris.Tigris(
        client_id=tigris_server.client_id, client_secret=tigris_server.client_secret, server_url=fake.url
    ) as s:
        s.user.insert_metadata(metadata_key="k", value=1)
        explicit = s.auth.get_access_token()
        texts += [repr(s), str(s), repr(s._settings), repr(credentials(s)), repr(explicit)]
        texts += [repr(explicit.get_access_token_response)]
        with pytest.raises(tigris.InternalServerError) as exists:
            s.user.insert_metadata(metadata_key="k", value=2)
        texts += [
            str(exists.value),
            repr(exists.value),
            "".join(traceback.format_exception(type(exists.value), exists.value, exists.value.__traceback__)),
        ]

    with tigris.Tigris(client_id=tigris_server.client_id, client_secret=SECRET, server_url=fake.url) as bad:
        texts += [repr(bad), repr(credentials(bad))]
        with pytest.raises(tigris.UnauthenticatedError) as refused:
            bad.user.get_metadata(metadata_key="k")
        texts += [
            str(refused.value),
            repr(refused.value),
            "".join(traceback.format_exception(type(refused.value), refused.value, refused.value.__traceback__)),
        ]

    minted = tigris_server.mint_token("alice")
    texts.append(repr(tigris.BearerAuthInterceptor(minted)))
    for record in caplog.records:
        texts.append(record.getMessage())
        if record.exc_info:
            texts.append("".join(traceback.format_exception(*record.exc_info)))

    tokens = {str(v).removeprefix("Bearer ") for call in fake.calls for v in call.headers("authorization")}
    tokens.add(explicit.raw_response.access_token)
    assert tokens  # real JWTs were issued and used
    secrets = {tigris_server.client_secret, SECRET, minted, *tokens}
    joined = "\n".join(texts)
    for secret in secrets:
        assert secret not in joined
        assert secret not in caplog.text


def _slow_refusal(request: bytes, context: grpc.ServicerContext) -> bytes:
    """GetAccessToken that takes a while to say no, so that callers pile up behind it."""
    time.sleep(0.5)
    context.abort(UNAUTHENTICATED, "Invalid credentials")


def test_callers_waiting_for_a_failed_fetch_share_its_error(fake: FakeServer) -> None:
    """32 threads arriving together with bad credentials: one fetch, not 32 in a row."""
    fake.on(GET_ACCESS_TOKEN, _slow_refusal)
    client = tigris.Tigris(client_id="app", client_secret=SECRET, server_url=fake.url)
    barrier = threading.Barrier(32)
    errors: list[BaseException] = []

    def call() -> None:
        barrier.wait()
        try:
            client.user.get_metadata(metadata_key="k")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(32)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    elapsed = time.monotonic() - started
    assert len(errors) == 32
    assert all(isinstance(e, tigris.UnauthenticatedError) and e.status_code == 401 for e in errors)
    assert all("could not obtain an access token" in e.message for e in errors)  # type: ignore[attr-defined]
    assert all(isinstance(e.raw_response, grpc.RpcError) for e in errors)  # type: ignore[attr-defined]
    assert len(fake.calls_to(GET_ACCESS_TOKEN)) == 1
    assert elapsed < 5, "the waiters fetched one after another"
    assert not fake.calls_to(GET_USER_METADATA)


def test_a_calls_timeout_also_bounds_its_token_fetch(fake: FakeServer) -> None:
    """A call with timeout=0.5 whose token fetch hangs ends after about 0.5 s, not the client's 10 s."""
    fake.on(GET_ACCESS_TOKEN, Sleep(30))
    client = tigris.Tigris(client_id="app", client_secret=SECRET, server_url=fake.url, timeout=10)
    started = time.monotonic()
    with pytest.raises(tigris.DeadlineExceededError) as caught:
        client.user.get_metadata(metadata_key="k", timeout=0.5)
    assert time.monotonic() - started < 3
    assert caught.value.status_code == 504
    assert "could not obtain an access token" in caught.value.message
    client.close()


def test_the_secret_stays_out_of_tracebacks_with_locals(fake: FakeServer) -> None:
    """Error reporters that capture local variables (and `traceback` with capture_locals) show the
    request objects our frames hold: none of them may print the client secret. (A secret the caller
    passes as an argument is in the caller's own frames; that is theirs to guard.)"""
    fake.on(GET_ACCESS_TOKEN, Abort(UNAUTHENTICATED, "Invalid credentials"))
    client = tigris.Tigris(client_id="app", client_secret=SECRET, server_url=fake.url)
    for call in (
        lambda: client.user.get_metadata(metadata_key="k"),
        client.auth.get_access_token,  # the client's own credentials
    ):
        with pytest.raises(tigris.UnauthenticatedError) as caught:
            call()
        shown = package_locals(caught.value)
        assert "client_secret=<hidden>" in shown
        assert SECRET not in shown
    client.close()


def test_waiting_for_another_calls_token_fetch_counts_against_the_deadline(fake: FakeServer) -> None:
    """B starts 0.5 s after A, while A's token fetch hangs: each call ends at its own 1 s deadline."""
    fake.on(GET_ACCESS_TOKEN, Sleep(30))
    client = tigris.Tigris(client_id="app", client_secret=SECRET, server_url=fake.url)
    elapsed: dict[str, float] = {}

    def call(name: str) -> None:
        started = time.monotonic()
        with pytest.raises(tigris.DeadlineExceededError):
            client.user.get_metadata(metadata_key="k", timeout=1.0)
        elapsed[name] = time.monotonic() - started

    first = threading.Thread(target=call, args=("a",))
    first.start()
    time.sleep(0.5)
    call("b")
    first.join(timeout=10)
    assert elapsed["a"] < 1.4
    assert elapsed["b"] < 1.4, "B waited for the lock, then spent a whole deadline more on its own fetch"
    client.close()


def test_a_callers_own_authorization_needs_no_token_fetch(fake: FakeServer) -> None:
    fake.on(GET_ACCESS_TOKEN, Abort(UNAUTHENTICATED, "Invalid credentials"))
    fake.on(GET_USER_METADATA, get_response())
    with tigris.Tigris(client_id="app", client_secret=SECRET, server_url=fake.url) as s:
        s.user.get_metadata(metadata_key="k", metadata=[("authorization", "Bearer mine")])
    assert bearers(fake) == ["Bearer mine"]
    assert not fake.calls_to(GET_ACCESS_TOKEN)


def test_an_unusable_token_answer_stays_out_of_tracebacks(fake: FakeServer) -> None:
    fake.on(GET_ACCESS_TOKEN, token_response("SECRET-ACCESS-TOKEN", expires_in=0))
    with (
        tigris.Tigris(client_id="app", client_secret=SECRET, server_url=fake.url) as s,
        pytest.raises(tigris.InternalServerError, match="no usable token") as caught,
    ):
        s.user.get_metadata(metadata_key="k")
    assert "SECRET-ACCESS-TOKEN" not in package_locals(caught.value)


def test_a_provider_token_read_from_a_file_is_accepted_and_a_bad_one_stays_hidden(fake: FakeServer) -> None:
    fake.on(GET_USER_METADATA, get_response())
    with tigris.Tigris(bearer_auth=lambda: "tok-from-file\n", server_url=fake.url) as s:
        s.user.get_metadata(metadata_key="k")
    assert bearers(fake) == ["Bearer tok-from-file"]
    with (
        tigris.Tigris(bearer_auth=lambda: "tok with-space-SECRET", server_url=fake.url) as s,
        pytest.raises(ValueError, match="whitespace") as caught,
    ):
        s.user.get_metadata(metadata_key="k")
    assert "SECRET" not in package_locals(caught.value)
    assert "SECRET" not in str(caught.value)
