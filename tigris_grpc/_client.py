"""`Tigris` and `AsyncTigris`: the facades, their sub-clients, and the configuration they share.

The two clients differ only at the call edge (`SyncEdge` / `AsyncEdge`); request building,
validation, response mapping and error mapping live in `_ops` and `_edge` and serve both. The
sub-client methods are one-line forwards, kept side by side so they cannot drift apart (a test
compares the two clients' public methods and signatures).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import grpc
import grpc.aio

from tigris_grpc import _ops
from tigris_grpc._auth import (
    AsyncTokenProvider,
    ClientCredentialsAuth,
    _Auth,
    make_auth,
)
from tigris_grpc._config import (
    DEFAULT_TIMEOUT,
    HOSTED_URL,
    SERVERS,
    EnvSettings,
    RetryPolicy,
    Target,
    channel_options,
    parse_target,
)
from tigris_grpc._edge import AsyncEdge, CallerMetadata, SyncEdge
from tigris_grpc._ops import UNSET, check_timeout
from tigris_grpc.models import operations, shared

if sys.version_info >= (3, 10):
    from typing import Concatenate, ParamSpec
else:  # pragma: no cover - Python 3.9
    from typing_extensions import Concatenate, ParamSpec

if TYPE_CHECKING:
    from typing_extensions import Self


@dataclasses.dataclass(frozen=True)
class _Settings:
    """Everything a client is built from, resolved from arguments and the environment."""

    target: Target | None
    auth: _Auth
    credentials: ClientCredentialsAuth | None
    timeout: float
    options: tuple[tuple[str, Any], ...]
    root_certificates: bytes | None


def _resolve(  # noqa: PLR0917 - the constructor's arguments, in its order
    bearer_auth: str | AsyncTokenProvider | None,
    server_idx: int | None,
    server_url: str | None,
    url_params: Mapping[str, str] | None,
    client: object,
    retry_config: object,
    client_id: str | None,
    client_secret: str | None,
    timeout: float,
    retry: RetryPolicy | None,
    insecure: bool,
    root_certificates: bytes | None,
    options: Sequence[tuple[str, Any]],
    env: Mapping[str, str] | None,
    has_channel: bool,
) -> _Settings:
    if client is not None:
        raise ValueError("client= is the REST SDK's HTTP session; this client owns a gRPC channel (see channel=)")
    if retry_config is not None:
        raise ValueError("retry_config= is the REST SDK's; pass retry=RetryPolicy(...) (or retry=None) instead")
    if url_params:
        raise ValueError("url_params= is not used: Tigris's server URLs take no parameters")
    settings = EnvSettings.from_env(env)

    if server_url is None and server_idx is not None:
        if isinstance(server_idx, bool) or not isinstance(server_idx, int) or not 0 <= server_idx < len(SERVERS):
            raise ValueError(f"server_idx must be 0 (hosted) or 1 (localhost:8081), got {server_idx!r}")
        server_url = SERVERS[server_idx]
    target = None if has_channel else parse_target(server_url or settings.url or HOSTED_URL, insecure=insecure)

    explicit_credentials = client_id is not None or client_secret is not None
    if bearer_auth is not None and explicit_credentials:
        raise ValueError("pass either bearer_auth or client_id/client_secret, not both")
    credentials: ClientCredentialsAuth | None = None
    if bearer_auth is None and not explicit_credentials and settings.token:
        bearer_auth = settings.token
    if bearer_auth is None:
        if not explicit_credentials:
            client_id, client_secret = settings.client_id, settings.client_secret
        if client_id is not None or client_secret is not None:
            if not client_id or not client_secret:
                raise ValueError("client credentials need both client_id and client_secret")
            credentials = ClientCredentialsAuth(client_id, client_secret)
    auth = credentials if credentials is not None else make_auth(bearer_auth)

    checked_timeout = check_timeout(timeout)
    if checked_timeout is None:
        raise ValueError("timeout must be a positive number of seconds")
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"retry must be a RetryPolicy or None, not {type(retry).__name__}")
    return _Settings(
        target,
        auth,
        credentials,
        checked_timeout,
        tuple(channel_options(retry, options)),
        root_certificates,
    )


class _ClientBase:
    """Construction shared by `Tigris` and `AsyncTigris`. No network I/O happens here."""

    _settings: _Settings

    def __init__(
        self,
        bearer_auth: str | AsyncTokenProvider | None = None,
        *,
        server_idx: int | None = None,
        server_url: str | None = None,
        url_params: Mapping[str, str] | None = None,
        client: object = None,
        retry_config: object = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 - frozen, so sharing it is safe
        insecure: bool = False,
        root_certificates: bytes | None = None,
        channel_options: Sequence[tuple[str, Any]] = (),
        env: Mapping[str, str] | None = None,
        channel: Any = None,
    ) -> None:
        """Configure a client; it connects on the first call.

        Args:
            bearer_auth: A token, or a callable returning one per call (a coroutine function
                too, on AsyncTigris). Defaults to ``TIGRIS_TOKEN``.
            server_idx: The REST SDK's server index: 0 the hosted service, 1 ``localhost:8081``.
            server_url: ``host[:port]``, ``https://host``, ``http://localhost:8081`` or
                ``unix:PATH``. Defaults to ``TIGRIS_URI``/``TIGRIS_URL``, then the hosted service.
            url_params: Accepted for the REST SDK's signature; must be empty.
            client: Accepted for the REST SDK's signature; must be None.
            retry_config: Accepted for the REST SDK's signature; must be None (see ``retry``).
            client_id: Client id to exchange for access tokens (default ``TIGRIS_CLIENT_ID``).
            client_secret: Its secret (default ``TIGRIS_CLIENT_SECRET``).
            timeout: Default deadline of each call, in seconds.
            retry: Retry policy for UNAVAILABLE on idempotent calls; None switches retries off.
            insecure: Allow plaintext to a host that is not loopback.
            root_certificates: PEM roots for TLS; default the system's.
            channel_options: Extra grpc channel options, appended to ours.
            env: Where to read TIGRIS_* variables; default ``os.environ``.
            channel: A channel to use instead of making one (tests, custom transports). The
                client does not close a channel it was given.
        """
        self._settings = _resolve(
            bearer_auth, server_idx, server_url, url_params, client, retry_config, client_id, client_secret,
            timeout, retry, insecure, root_certificates, channel_options, env, channel is not None,
        )  # fmt: skip
        self._setup(channel)

    def _setup(self, channel: Any) -> None:
        raise NotImplementedError

    @property
    def server_url(self) -> str | None:
        """The grpc target this client connects to (None for an injected channel)."""
        target = self._settings.target
        return target.address if target else None

    def __repr__(self) -> str:
        settings = getattr(self, "_settings", None)  # None while the constructor is still failing
        if settings is None:
            return f"<{type(self).__name__} (not configured)>"
        return f"<{type(self).__name__} target={self.server_url!r} auth={settings.auth!r}>"

    def _channel_credentials(self) -> grpc.ChannelCredentials | None:
        target = self._settings.target
        if target is None or not target.secure:
            return None
        return grpc.ssl_channel_credentials(root_certificates=self._settings.root_certificates)


# --- Sub-clients, written once for both clients -----------------------------------------------------
#
# Each method is written once, as a plain function that builds the request and hands it to
# ``self._edge.call``. A sync class uses the function as it is; an async class wraps it in an
# ``async def`` that awaits what the AsyncEdge returns. `rpc_method` tells type checkers which of
# the two a method is on a given class, so both are fully typed without a hand-copied twin.

_P = ParamSpec("_P")
_R = TypeVar("_R")


class rpc_method(Generic[_P, _R]):
    """Marks a method written once for both the sync and the async clients."""

    def __init__(self, fn: Callable[Concatenate[Any, _P], _R]) -> None:
        self.fn = fn

    def awaitable(self) -> Callable[..., Any]:
        """The ``async def`` form of the method, with its name, docstring and signature."""
        fn = self.fn

        @functools.wraps(fn)
        async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            return await fn(self, *args, **kwargs)  # type: ignore[misc]  # a coroutine on AsyncEdge

        return method

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: _AsyncAPI, owner: type[Any]) -> Callable[_P, Coroutine[Any, Any, _R]]: ...
    @overload
    def __get__(self, obj: _SyncAPI, owner: type[Any]) -> Callable[_P, _R]: ...
    def __get__(self, obj: object, owner: type[Any]) -> Any:
        if obj is None:
            return self
        raise TypeError(f"{owner.__name__} is neither sync nor async: it must derive from _SyncAPI or _AsyncAPI")


def _bind_methods(cls: type, make: Callable[[rpc_method[Any, Any]], Callable[..., Any]]) -> None:
    for name in dir(cls):
        attr = getattr(cls, name, None)
        if isinstance(attr, rpc_method):
            setattr(cls, name, make(attr))


class _SyncAPI:
    """Base of the sync classes: their `rpc_method`s become the plain functions."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _bind_methods(cls, lambda method: method.fn)


class _AsyncAPI:
    """Base of the async classes: their `rpc_method`s become ``async def`` methods."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _bind_methods(cls, rpc_method.awaitable)


class _APIBase:
    """A sub-client: the edge it calls through (typed as the sync one; see `rpc_method`)."""

    _edge: SyncEdge

    def __init__(self, edge: SyncEdge | AsyncEdge, credentials: ClientCredentialsAuth | None = None) -> None:
        self._edge = edge  # type: ignore[assignment]
        self._client_credentials = credentials


class _UserOps(_APIBase):
    """User metadata: one JSON value per (namespace, user, key); the user comes from the token."""

    @rpc_method
    def get_metadata(
        self,
        request: operations.ManagementGetUserMetadataRequest | None = None,
        *,
        metadata_key: str | None = None,
        timeout: float | None = None,
        metadata: CallerMetadata = None,
    ) -> operations.ManagementGetUserMetadataResponse:
        """Read a key; ``get_user_metadata_response.value`` is None when it has no value."""
        op, kind = _ops.GET_USER_METADATA, _ops.GET_USER_METADATA_KIND
        return self._edge.call(op, kind.build(op, request, metadata_key, UNSET), timeout, metadata)

    @rpc_method
    def insert_metadata(
        self,
        request: operations.ManagementInsertUserMetadataRequest | None = None,
        *,
        metadata_key: str | None = None,
        value: Any = UNSET,
        timeout: float | None = None,
        metadata: CallerMetadata = None,
    ) -> operations.ManagementInsertUserMetadataResponse:
        """Store a new key. The server refuses an existing key with INTERNAL (InternalServerError)."""
        op, kind = _ops.INSERT_USER_METADATA, _ops.INSERT_USER_METADATA_KIND
        return self._edge.call(op, kind.build(op, request, metadata_key, value), timeout, metadata)

    @rpc_method
    def update_metadata(
        self,
        request: operations.ManagementUpdateUserMetadataRequest | None = None,
        *,
        metadata_key: str | None = None,
        value: Any = UNSET,
        timeout: float | None = None,
        metadata: CallerMetadata = None,
    ) -> operations.ManagementUpdateUserMetadataResponse:
        """Store a key's value, creating the key if it is missing (an upsert)."""
        op, kind = _ops.UPDATE_USER_METADATA, _ops.UPDATE_USER_METADATA_KIND
        return self._edge.call(op, kind.build(op, request, metadata_key, value), timeout, metadata)


class _NamespaceOps(_APIBase):
    """Namespaces, and metadata shared by everyone in the caller's namespace."""

    @rpc_method
    def create(
        self,
        request: shared.CreateNamespaceRequest | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        code: int | None = None,
        timeout: float | None = None,
        metadata: CallerMetadata = None,
    ) -> operations.CreateNamespaceResponse:
        """Create a namespace; ``code`` and ``id`` are chosen by the server when omitted."""
        request_pb = _ops.build_create_namespace(request, name, id, code)
        return self._edge.call(_ops.CREATE_NAMESPACE, request_pb, timeout, metadata)

    @rpc_method
    def list(
        self,
        *,
        namespace_id: str | None = None,
        timeout: float | None = None,
        metadata: CallerMetadata = None,
    ) -> operations.ManagementListNamespacesResponse:
        """List namespaces (or just ``namespace_id``)."""
        request_pb = _ops.build_list_namespaces(namespace_id)
        return self._edge.call(_ops.LIST_NAMESPACES, request_pb, timeout, metadata)

    @rpc_method
    def get(
        self,
        *,
        namespace_id: str | None = None,
        timeout: float | None = None,
        metadata: CallerMetadata = None,
    ) -> operations.ManagementDescribeNamespacesResponse:
        """Describe namespaces: ``describe_namespaces_response.data.details`` is JSON text."""
        request_pb = _ops.build_list_namespaces(namespace_id, describe=True)
        return self._edge.call(_ops.DESCRIBE_NAMESPACES, request_pb, timeout, metadata)

    @rpc_method
    def delete(
        self, namespace_id: str, *, timeout: float | None = None, metadata: CallerMetadata = None
    ) -> operations.ManagementDeleteNamespaceResponse:
        """Delete a namespace and everything in it."""
        request_pb = _ops.build_delete_namespace(namespace_id)
        return self._edge.call(_ops.DELETE_NAMESPACE, request_pb, timeout, metadata)

    @rpc_method
    def get_metadata(
        self,
        request: operations.ManagementGetNamespaceMetadataRequest | None = None,
        *,
        metadata_key: str | None = None,
        timeout: float | None = None,
        metadata: CallerMetadata = None,
    ) -> operations.ManagementGetNamespaceMetadataResponse:
        """Read a namespace key; ``value`` is None when it has no value."""
        op, kind = _ops.GET_NAMESPACE_METADATA, _ops.GET_NAMESPACE_METADATA_KIND
        return self._edge.call(op, kind.build(op, request, metadata_key, UNSET), timeout, metadata)

    @rpc_method
    def insert_metadata(
        self,
        request: operations.ManagementInsertNamespaceMetadataRequest | None = None,
        *,
        metadata_key: str | None = None,
        value: Any = UNSET,
        timeout: float | None = None,
        metadata: CallerMetadata = None,
    ) -> operations.ManagementInsertNamespaceMetadataResponse:
        """Store a new namespace key; an existing key is refused with INTERNAL."""
        op, kind = _ops.INSERT_NAMESPACE_METADATA, _ops.INSERT_NAMESPACE_METADATA_KIND
        return self._edge.call(op, kind.build(op, request, metadata_key, value), timeout, metadata)

    @rpc_method
    def update_metadata(
        self,
        request: operations.ManagementUpdateNamespaceMetadataRequest | None = None,
        *,
        metadata_key: str | None = None,
        value: Any = UNSET,
        timeout: float | None = None,
        metadata: CallerMetadata = None,
    ) -> operations.ManagementUpdateNamespaceMetadataResponse:
        """Store a namespace key's value, creating it if missing (an upsert)."""
        op, kind = _ops.UPDATE_NAMESPACE_METADATA, _ops.UPDATE_NAMESPACE_METADATA_KIND
        return self._edge.call(op, kind.build(op, request, metadata_key, value), timeout, metadata)


class _AuthOps(_APIBase):
    """The token exchange, for callers who need the access token itself."""

    @rpc_method
    def get_access_token(
        self,
        request: shared.GetAccessTokenRequest | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        timeout: float | None = None,
        metadata: CallerMetadata = None,
    ) -> operations.AuthGetAccessTokenResponse:
        """Exchange client credentials (default: this client's) for an access token."""
        default = self._client_credentials.request if self._client_credentials else None
        request_pb = _ops.build_access_token_request(request, client_id, client_secret, default)
        return self._edge.call(_ops.GET_ACCESS_TOKEN, request_pb, timeout, metadata)


class UserAPI(_UserOps, _SyncAPI):
    """User metadata: one JSON value per (namespace, user, key); the user comes from the token."""


class NamespaceAPI(_NamespaceOps, _SyncAPI):
    """Namespaces, and metadata shared by everyone in the caller's namespace."""


class AuthAPI(_AuthOps, _SyncAPI):
    """The token exchange, for callers who need the access token itself."""


class AsyncUserAPI(_UserOps, _AsyncAPI):
    """`UserAPI` for asyncio: the same methods, awaitable."""


class AsyncNamespaceAPI(_NamespaceOps, _AsyncAPI):
    """`NamespaceAPI` for asyncio: the same methods, awaitable."""


class AsyncAuthAPI(_AuthOps, _AsyncAPI):
    """`AuthAPI` for asyncio."""


class _HealthOps(_APIBase):
    @rpc_method
    def health(self, *, timeout: float | None = None, metadata: CallerMetadata = None) -> bool:
        """True when the server answers its health check with OK; SDKError otherwise."""
        return self._edge.call(_ops.HEALTH, _ops.HEALTH_REQUEST, timeout, metadata)


class Tigris(_ClientBase, _HealthOps, _SyncAPI):
    """A Tigris Management API client over one long-lived gRPC channel.

    Thread-safe: share one instance. ``with Tigris(...) as s:`` closes it on exit.
    Example::

        s = Tigris(bearer_auth=token, server_url="localhost:8081")
        s.user.insert_metadata(metadata_key="theme", value={"dark": True})
        s.user.get_metadata(metadata_key="theme").get_user_metadata_response.value
    """

    def _setup(self, channel: grpc.Channel | None) -> None:
        settings = self._settings
        self._owns_channel = channel is None
        if channel is None:
            assert settings.target is not None
            credentials = self._channel_credentials()
            address, options = settings.target.address, list(settings.options)
            channel = (
                grpc.secure_channel(address, credentials, options)
                if credentials
                else grpc.insecure_channel(address, options)
            )
        self._channel = channel
        self._edge = SyncEdge(channel, settings.auth, settings.timeout)
        if settings.credentials is not None:
            settings.credentials._fetch = self._edge.fetch_token
        self.user = UserAPI(self._edge)
        self.namespace = NamespaceAPI(self._edge)
        self.auth = AuthAPI(self._edge, settings.credentials)

    def close(self) -> None:
        """Close the client, and its channel unless it was injected. Later calls raise RuntimeError."""
        self._edge.close(close_channel=self._owns_channel)

    def __enter__(self) -> Tigris:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class AsyncTigris(_ClientBase, _HealthOps, _AsyncAPI):
    """`Tigris` for asyncio services, on grpc.aio: the same constructor and sub-clients, awaitable.

    The channel is opened on the first call, inside the running event loop, and belongs to that
    loop. ``async with AsyncTigris(...) as s:`` closes it on exit. Cancelling a task cancels its RPC.
    """

    def _setup(self, channel: grpc.aio.Channel | None) -> None:
        settings = self._settings
        self._owns_channel = channel is None

        def make_channel() -> grpc.aio.Channel:
            if channel is not None:
                return channel
            assert settings.target is not None
            credentials = self._channel_credentials()
            address, options = settings.target.address, list(settings.options)
            if credentials:
                return grpc.aio.secure_channel(address, credentials, options)
            return grpc.aio.insecure_channel(address, options)

        self._async_edge = AsyncEdge(make_channel, settings.auth, settings.timeout)
        self._edge = self._async_edge  # type: ignore[assignment]  # see rpc_method
        if settings.credentials is not None:
            settings.credentials._fetch_async = self._async_edge.fetch_token
        self.user = AsyncUserAPI(self._async_edge)
        self.namespace = AsyncNamespaceAPI(self._async_edge)
        self.auth = AsyncAuthAPI(self._async_edge, settings.credentials)

    async def close(self) -> None:
        """Close the client, and its channel unless it was injected. Later calls raise RuntimeError."""
        await self._async_edge.close(close_channel=self._owns_channel)

    async def __aenter__(self) -> AsyncTigris:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
