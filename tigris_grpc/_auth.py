"""Bearer-token auth: static tokens, token providers, client credentials, and the interceptors.

All sources share one shape: they hand out the metadata tuple to send, ``(("authorization",
"Bearer <token>"),)``, built once per token so a call allocates nothing for auth. The interceptors
(for users' own channels) and the clients' call edges use the same sources and the same
`merge_metadata`; the clients apply them directly instead of through grpc's interceptor chain,
whose Python machinery costs 10-25% per call.

Tokens never appear in reprs (so neither in tracebacks that show local variables), logs or
error text: metadata carrying one is an `AuthMetadata`, whose repr hides it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Union

import grpc
import grpc.aio

from tigris_grpc._errors import SDKError, from_grpc_error, make_error
from tigris_grpc._ops import TokenRequest
from tigris_grpc._pb import auth_pb2

if TYPE_CHECKING:
    from typing import TypeAlias

_log = logging.getLogger("tigris_grpc")

# Union, not |: these are evaluated at run time, and Python 3.9 has no | between types.
Metadata: TypeAlias = tuple[tuple[str, Union[str, bytes]], ...]


class AuthMetadata(tuple[tuple[str, Union[str, bytes]], ...]):
    """Call metadata whose repr hides the authorization value. grpc takes it as the tuple it is."""

    __slots__ = ()

    def __repr__(self) -> str:
        shown = ", ".join(repr((key, "<hidden>" if key == "authorization" else value)) for key, value in self)
        return f"({shown},)" if len(self) == 1 else f"({shown})"


TokenProvider: TypeAlias = Callable[[], str]
AsyncTokenProvider: TypeAlias = Callable[[], "str | Awaitable[str]"]
_TOKEN_ERROR = "could not obtain an access token"


def bearer_metadata(token: object) -> Metadata:
    """The metadata for one token; accepts ``"<token>"`` or ``"Bearer <token>"``, and ignores
    whitespace around it (a token read from a file ends with a newline).

    Raises:
        TypeError: The token is not a string.
        ValueError: The token is empty or contains whitespace or control characters.
    """
    try:
        if not isinstance(token, str):
            raise TypeError(f"a bearer token must be a str, not {type(token).__name__}")
        token = token.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].lstrip()
        if not token or not token.isprintable() or any(c.isspace() for c in token):
            # Never echo the token: it is a secret even when malformed.
            raise ValueError("the bearer token is empty or contains whitespace or control characters")
        return AuthMetadata((("authorization", f"Bearer {token}"),))
    finally:
        del token  # not in the frame's locals, which tracebacks and error reporters may show


def merge_metadata(auth: Metadata, caller: Sequence[tuple[str, Any]] | None) -> Metadata:
    """Append the auth header to the caller's metadata; a caller's own authorization wins."""
    if not caller:
        return auth
    if any(key.lower() == "authorization" for key, _ in caller):
        return AuthMetadata(caller)
    return AuthMetadata((*caller, *auth))


class _Auth:
    """A source of auth metadata. Subclasses override what they can do faster."""

    #: Set when the metadata never changes: the call edge then skips the source entirely.
    static: Metadata | None = None
    #: Whether `invalidate` can produce a new token (client credentials).
    refreshable = False

    def metadata(self, deadline: float | None = None) -> Metadata:
        """The metadata for a call; ``deadline`` bounds any token fetch it has to make (seconds)."""
        raise NotImplementedError

    async def metadata_async(self, deadline: float | None = None) -> Metadata:
        return self.metadata(deadline)

    def invalidate(self, used: Metadata) -> None:
        """The server rejected ``used``; forget it so the next call fetches a new token."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class _NoAuth(_Auth):
    static: Metadata | None = ()

    def metadata(self, deadline: float | None = None) -> Metadata:
        return ()


class _StaticAuth(_Auth):
    def __init__(self, token: str) -> None:
        try:
            self.static = bearer_metadata(token)
        finally:
            del token  # see bearer_metadata

    def metadata(self, deadline: float | None = None) -> Metadata:
        assert self.static is not None
        return self.static


class _ProviderAuth(_Auth):
    """Calls the user's provider for every call (the provider may cache); coroutines allowed."""

    def __init__(self, provider: AsyncTokenProvider) -> None:
        self._provider = provider

    def metadata(self, deadline: float | None = None) -> Metadata:
        token = self._provider()
        try:
            if inspect.isawaitable(token):
                # Close it so Python does not warn about a never-awaited coroutine.
                close = getattr(token, "close", None)
                if close is not None:
                    close()
                raise TypeError("this token provider is async: use it with AsyncTigris")
            return bearer_metadata(token)
        finally:
            del token  # see bearer_metadata

    async def metadata_async(self, deadline: float | None = None) -> Metadata:
        token = self._provider()
        try:
            if inspect.isawaitable(token):
                try:
                    token = await asyncio.wait_for(token, deadline)
                except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
                    raise make_error("DEADLINE_EXCEEDED", "the call's deadline passed in the token provider") from None
            return bearer_metadata(token)
        finally:
            del token  # see bearer_metadata


class _Cached(NamedTuple):
    metadata: Metadata
    refresh_at: float  # monotonic seconds: fetch a new token from here on
    expires_at: float  # monotonic seconds: never send it after this


def _refresh_lead(lifetime: float) -> float:
    """How long before expiry to refresh: 20% of the lifetime plus one second, at most four
    minutes and at most 60% of a short lifetime, plus up to a quarter of that as jitter (so five
    minutes at most), so that many clients started together do not refresh together. The extra
    second is because a JWT's ``exp`` is whole seconds: issued as ``int(now) + expires_in``, a
    token dies up to 1 s before ``expires_in`` says."""
    lead = min(240.0, 0.2 * lifetime + 1.0, 0.6 * lifetime)
    return lead + random.uniform(0.0, lead / 4)  # noqa: S311 - jitter, not cryptography


class ClientCredentialsAuth(_Auth):
    """Exchanges a client id and secret for access tokens and refreshes them before expiry.

    One refresh at a time: callers arriving while a refresh runs keep using the still-valid
    token, or wait for the refresh if there is none. A failed refresh leaves the cached token in
    place. Sync and async callers share the cache; each kind uses its own lock.
    """

    refreshable = True

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        fetch: Callable[[TokenRequest, float | None], auth_pb2.GetAccessTokenResponse] | None = None,
        fetch_async: Callable[[TokenRequest, float | None], Awaitable[auth_pb2.GetAccessTokenResponse]] | None = None,
    ) -> None:
        for name, value in (("client_id", client_id), ("client_secret", client_secret)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string")
        self.client_id = client_id
        self.request = TokenRequest(client_id, client_secret)
        #: ``fetch(request, deadline)``: one GetAccessToken call, raising SDKError on failure.
        self._fetch = fetch
        self._fetch_async = fetch_async
        self._cached: _Cached | None = None
        # Fetch attempts so far, and the error of the last one if it failed: callers that were
        # waiting while a fetch failed share its error instead of each asking the server again.
        self._attempts = 0
        self._failure: SDKError | None = None
        self._lock = threading.Lock()
        self._async_lock: asyncio.Lock | None = None
        #: How many tokens were fetched: for tests and diagnostics.
        self.fetch_count = 0

    def __repr__(self) -> str:
        return f"<ClientCredentialsAuth client_id={self.client_id!r}>"

    def _store(self, response: auth_pb2.GetAccessTokenResponse, requested_at: float) -> _Cached:
        # The fetcher checked that the token is usable (see `usable_token`). Its lifetime runs
        # from when we asked, not when the answer arrived: never overestimate it.
        cached = _Cached(
            bearer_metadata(response.access_token),
            requested_at + max(0.0, response.expires_in - _refresh_lead(response.expires_in)),
            requested_at + response.expires_in,
        )
        self._cached = cached
        self.fetch_count += 1
        return cached

    def _still_valid(self, seen: _Cached | None) -> bool:
        return seen is not None and time.monotonic() < seen.expires_at

    def _settled(self, seen: _Cached | None, arrived: int) -> Metadata | None:
        """What a caller that waited for the lock gets without fetching: a token fetched while it
        waited, or the error of a fetch that failed while it waited."""
        cached = self._cached
        if cached is not None and cached is not seen and time.monotonic() < cached.refresh_at:
            return cached.metadata
        failure = self._failure
        if failure is not None and self._attempts > arrived:
            return self._fetch_failed(seen, _again(failure))
        return None

    def _fetch_failed(self, seen: _Cached | None, exc: SDKError) -> Metadata:
        now = time.monotonic()
        if seen is None or now >= seen.expires_at:
            raise exc
        # Keep the still-valid token, and wait a little before the next attempt, so that a token
        # service that is down is not asked again by every call of the refresh window.
        if self._cached is seen:
            self._cached = seen._replace(refresh_at=now + min(5.0, (seen.expires_at - now) / 4))
        _log.warning("token refresh failed (%s); using the current token until it expires", exc.code)
        return seen.metadata

    def _begin(self, seen: _Cached | None, arrived: int, end: float | None) -> Metadata | float:
        """Under the lock: the settled answer, or the time left for a new fetch (seconds)."""
        settled = self._settled(seen, arrived)
        if settled is not None:
            return settled
        if end is None:
            return float("inf")
        left = end - time.monotonic()
        if left <= 0:
            raise _waited_too_long()
        return left

    # Under the lock, after a fetch: only completed fetches count as attempts, so callers that
    # waited while one ran share its result, and a cancelled fetch leaves nothing to share. The
    # answer is passed straight in, never held in a caller's local (see bearer_metadata).

    def _fetched(self, answer: auth_pb2.GetAccessTokenResponse, requested_at: float) -> Metadata:
        self._attempts += 1
        self._failure = None
        return self._store(answer, requested_at).metadata

    def _not_fetched(self, seen: _Cached | None, error: SDKError) -> Metadata:
        self._attempts += 1
        self._failure = error
        return self._fetch_failed(seen, error)

    def metadata(self, deadline: float | None = None) -> Metadata:
        seen = self._cached
        now = time.monotonic()
        if seen is not None and now < seen.refresh_at:
            return seen.metadata
        arrived = self._attempts
        end = None if deadline is None else now + deadline
        if self._still_valid(seen):
            if not self._lock.acquire(blocking=False):
                assert seen is not None
                return seen.metadata  # another thread is refreshing; this token still works
        elif not self._lock.acquire(timeout=-1 if deadline is None else deadline):
            raise _waited_too_long()
        try:
            left = self._begin(seen, arrived, end)
            if not isinstance(left, float):
                return left
            if self._fetch is None:
                raise RuntimeError("this client-credentials source has no synchronous fetcher")
            requested_at = time.monotonic()
            try:
                return self._fetched(self._fetch(self.request, _finite(left)), requested_at)
            except SDKError as exc:
                return self._not_fetched(seen, exc)
        finally:
            self._lock.release()

    async def metadata_async(self, deadline: float | None = None) -> Metadata:
        seen = self._cached
        now = time.monotonic()
        if seen is not None and now < seen.refresh_at:
            return seen.metadata
        arrived = self._attempts
        end = None if deadline is None else now + deadline
        if self._async_lock is None:
            self._async_lock = asyncio.Lock()
        if self._async_lock.locked() and self._still_valid(seen):
            assert seen is not None
            return seen.metadata  # another task is refreshing
        await _acquire(self._async_lock, deadline)
        try:
            left = self._begin(seen, arrived, end)
            if not isinstance(left, float):
                return left
            if self._fetch_async is None:
                raise RuntimeError("this client-credentials source has no asynchronous fetcher")
            requested_at = time.monotonic()
            try:
                return self._fetched(await self._fetch_async(self.request, _finite(left)), requested_at)
            except SDKError as exc:
                return self._not_fetched(seen, exc)
        finally:
            self._async_lock.release()

    def invalidate(self, used: Metadata) -> None:
        cached = self._cached
        if cached is not None and cached.metadata is used:
            self._cached = None


def _finite(left: float) -> float | None:
    return None if left == float("inf") else left


async def _acquire(lock: asyncio.Lock, deadline: float | None) -> None:
    """Take ``lock`` within ``deadline`` seconds, or raise DEADLINE_EXCEEDED."""
    try:
        if sys.version_info >= (3, 11):
            # asyncio.timeout, unlike wait_for before 3.12, never swallows a cancellation that
            # arrives just as the lock is handed over.
            async with asyncio.timeout(deadline):
                await lock.acquire()
        else:  # pragma: no cover - Python 3.10
            await asyncio.wait_for(lock.acquire(), deadline)
    except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
        raise _waited_too_long() from None


def usable_token(answer: auth_pb2.GetAccessTokenResponse) -> bool:
    """Whether a GetAccessToken answer carries a token we can use."""
    return bool(answer.access_token) and answer.expires_in > 0


def no_usable_token() -> SDKError:
    return make_error("INTERNAL", f"{_TOKEN_ERROR}: the server sent no usable token")


def _again(error: SDKError) -> SDKError:
    """A fresh copy of a shared fetch error for another caller, keeping the grpc error."""
    twin = type(error)(
        error.message,
        error.status_code,
        error.body,
        error.raw_response,
        grpc_code=error.grpc_code,
        code=error.code,
        retry_delay=error.retry_delay,
    )
    twin.__cause__ = error.__cause__
    return twin


def _waited_too_long() -> SDKError:
    return make_error("DEADLINE_EXCEEDED", f"{_TOKEN_ERROR}: the call's deadline passed while another call fetched it")


def token_error(exc: grpc.RpcError) -> SDKError:
    """The SDKError for a failed GetAccessToken: says the token could not be obtained and keeps
    the server's code (UNAUTHENTICATED for bad credentials)."""
    return from_grpc_error(exc, prefix=_TOKEN_ERROR)


def make_auth(bearer_auth: str | AsyncTokenProvider | _Auth | None) -> _Auth:
    """The auth source for a ``bearer_auth`` argument."""
    if bearer_auth is None:
        return _NoAuth()
    if isinstance(bearer_auth, _Auth):
        return bearer_auth
    if isinstance(bearer_auth, str):
        return _StaticAuth(bearer_auth)
    if callable(bearer_auth):
        return _ProviderAuth(bearer_auth)
    raise TypeError(f"bearer_auth must be a str or a callable returning one, not {type(bearer_auth).__name__}")


class _CallDetails(
    NamedTuple(
        "_CallDetails",
        [
            ("method", str),
            ("timeout", Optional[float]),
            ("metadata", Any),
            ("credentials", Any),
            ("wait_for_ready", Optional[bool]),
            ("compression", Any),
        ],
    ),
    grpc.ClientCallDetails,
):
    """Call details with every field grpc defines, so none is lost when we add metadata."""


class BearerAuthInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Appends ``authorization: Bearer <token>`` to every call on a channel.

    Use it on your own channels: ``grpc.intercept_channel(channel, BearerAuthInterceptor(tok))``.
    Keeps every call-details field and any metadata the caller passed.

    Args:
        token: A token string, or a callable returning one for each call.
    """

    def __init__(self, token: str | TokenProvider | _Auth) -> None:
        self._auth = make_auth(token)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._auth!r}>"

    def call_metadata(self, caller: Sequence[tuple[str, Any]] | None = None) -> Metadata:
        """The metadata to send: the caller's, then the auth header."""
        return merge_metadata(self._auth.metadata(), caller)

    def _details(self, details: grpc.ClientCallDetails) -> _CallDetails:
        return _CallDetails(
            details.method,
            details.timeout,
            self.call_metadata(details.metadata),
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return continuation(self._details(client_call_details), request_iterator)

    def intercept_stream_stream(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return continuation(self._details(client_call_details), request_iterator)


class AsyncBearerAuthInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
    grpc.aio.StreamUnaryClientInterceptor,
    grpc.aio.StreamStreamClientInterceptor,
):
    """The grpc.aio twin of `BearerAuthInterceptor`; the provider may be a coroutine function.

    Use it as ``grpc.aio.insecure_channel(target, interceptors=[AsyncBearerAuthInterceptor(tok)])``.
    """

    def __init__(self, token: str | AsyncTokenProvider | _Auth) -> None:
        self._auth = make_auth(token)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._auth!r}>"

    async def call_metadata(self, caller: Sequence[tuple[str, Any]] | None = None) -> Metadata:
        """The metadata to send: the caller's, then the auth header."""
        return merge_metadata(await self._auth.metadata_async(), caller)

    async def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        caller = tuple(details.metadata) if details.metadata is not None else None
        metadata = grpc.aio.Metadata(*await self.call_metadata(caller))
        replaced: grpc.aio.ClientCallDetails = details._replace(metadata=metadata)  # type: ignore[attr-defined]
        return replaced

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(await self._details(client_call_details), request)

    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(await self._details(client_call_details), request)

    async def intercept_stream_unary(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return await continuation(await self._details(client_call_details), request_iterator)

    async def intercept_stream_stream(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return await continuation(await self._details(client_call_details), request_iterator)
