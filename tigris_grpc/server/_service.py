"""The servicers: Management, Auth and Health, answering as the real Tigris server does.

Every handler is wrapped by :func:`_management_rpc` or :func:`_public_rpc`, which authenticate
(Management only), turn failures into the real server's status with its ``ErrorInfo`` detail,
and log one DEBUG line per call. There is deliberately no server interceptor: it would add a
layer of Python calls to every RPC for what one function call at the top of a handler does.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NoReturn, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status  # type: ignore[import-untyped]

from tigris_grpc._limits import MAX_KEY_BYTES, MAX_VALUE_BYTES
from tigris_grpc._pb import (
    auth_pb2,
    auth_pb2_grpc,
    health_pb2,
    health_pb2_grpc,
    management_pb2,
    management_pb2_grpc,
)
from tigris_grpc.server._config import DEFAULT_NAMESPACE, ClientCredential
from tigris_grpc.server._store import (
    Namespace,
    NamespaceExistsError,
    NamespaceNotFoundError,
    Store,
)
from tigris_grpc.server._tokens import TokenAuthority, TokenError

_log = logging.getLogger("tigris_grpc.server")

_INT32_MAX = 2**31 - 1
#: Namespace metadata keys the real server keeps for itself.
RESERVED_NAMESPACE_KEYS = frozenset({"db", "namespace"})

_UNAUTHENTICATED_BEARER = "Request unauthenticated with bearer"

_S = TypeVar("_S")
_M = TypeVar("_M", bound="ManagementService")
_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")


class _Failure(Exception):
    """Raised by a handler to answer with a status; never leaves this module."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@functools.lru_cache(maxsize=512)
def error_status(code: grpc.StatusCode, message: str) -> grpc.Status:
    """Builds an error as the real server sends it (the only place that does).

    The status carries ``grpc-status-details-bin``: a ``google.rpc.Status`` whose details hold
    ``google.rpc.ErrorInfo{reason: <code name>}``. Cached, since most messages are constants.

    Args:
        code: The gRPC status code.
        message: The status message.

    Returns:
        A status for ``ServicerContext.abort_with_status``.
    """
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason=code.name))
    status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
    result: grpc.Status = rpc_status.to_status(status)
    return result


def _abort(method: str, context: grpc.ServicerContext, exc: Exception, user: str, start: float) -> NoReturn:
    if isinstance(exc, _Failure):
        code, message = exc.code, exc.message
    elif isinstance(exc, NamespaceNotFoundError):
        # The caller's namespace was deleted while the call ran.
        code, message = grpc.StatusCode.NOT_FOUND, "namespace not found"
    else:
        _log.error("%s failed", method, exc_info=exc)
        code, message = grpc.StatusCode.INTERNAL, "internal error"
    if _log.isEnabledFor(logging.DEBUG):
        _log.debug("%s %s user=%s %.2fms", method, code.name, user, _ms(start))
    context.abort_with_status(error_status(code, message))


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


@dataclass(frozen=True)
class Caller:
    """Who a Management call comes from, as its token says."""

    user: str
    namespace: Namespace


def _management_rpc(
    fn: Callable[[_M, _Req, Caller], _Resp],
) -> Callable[[_M, _Req, grpc.ServicerContext], _Resp]:
    """Wraps a Management handler: bearer-token check, error mapping, one log line."""
    method = fn.__name__

    @functools.wraps(fn)
    def handler(self: _M, request: _Req, context: grpc.ServicerContext) -> _Resp:
        start = time.perf_counter()
        user = "-"
        try:
            caller = self.authenticate(context)
            user = caller.user
            response = fn(self, request, caller)
        except Exception as exc:  # noqa: BLE001  # every failure becomes a status, never a crash
            _abort(method, context, exc, user, start)
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("%s OK user=%s %.2fms", method, user, _ms(start))
        return response

    return handler


def _public_rpc(
    fn: Callable[[_S, _Req], _Resp],
) -> Callable[[_S, _Req, grpc.ServicerContext], _Resp]:
    """Wraps a handler that needs no token (Health, GetAccessToken)."""
    method = fn.__name__

    @functools.wraps(fn)
    def handler(self: _S, request: _Req, context: grpc.ServicerContext) -> _Resp:
        start = time.perf_counter()
        try:
            response = fn(self, request)
        except Exception as exc:  # noqa: BLE001  # every failure becomes a status, never a crash
            _abort(method, context, exc, "-", start)
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("%s OK user=- %.2fms", method, _ms(start))
        return response

    return handler


def _check_key(key: str, failure: str, reserved: frozenset[str] = frozenset()) -> None:
    # The real server wraps every storage refusal (empty or oversized key, reserved key) as
    # INTERNAL with the operation's generic message.
    if not key or len(key.encode()) > MAX_KEY_BYTES or key in reserved:
        raise _Failure(grpc.StatusCode.INTERNAL, failure)


def _check_value(value: bytes, failure: str) -> None:
    # An empty value cannot be stored (proto3 would not even send it); FoundationDB caps values.
    if not value or len(value) > MAX_VALUE_BYTES:
        raise _Failure(grpc.StatusCode.INTERNAL, failure)


def _info(namespace: Namespace) -> management_pb2.NamespaceInfo:
    return management_pb2.NamespaceInfo(code=namespace.code, id=namespace.id, name=namespace.name)


class ManagementService(management_pb2_grpc.ManagementServicer):
    """``tigrisdata.management.v1.Management``: namespaces and metadata."""

    def __init__(self, store: Store, tokens: TokenAuthority) -> None:
        """Creates the servicer.

        Args:
            store: Where namespaces and metadata live.
            tokens: Verifies the bearer tokens.
        """
        self._store = store
        self._tokens = tokens

    def authenticate(self, context: grpc.ServicerContext) -> Caller:
        """Resolves the caller from ``authorization: Bearer <token>``.

        A valid token whose namespace does not exist (deleted, or never created) is answered
        NOT_FOUND rather than UNAUTHENTICATED: the token itself is fine, and a client that
        refreshes tokens on UNAUTHENTICATED would otherwise loop. (The real server answers
        INTERNAL "... failed to read namespace id." here.)

        Raises:
            _Failure: UNAUTHENTICATED or NOT_FOUND.
        """
        header: str | bytes | None = None
        for key, value in context.invocation_metadata():
            if key == "authorization":
                header = value
                break
        if not isinstance(header, str):
            raise _Failure(grpc.StatusCode.UNAUTHENTICATED, _UNAUTHENTICATED_BEARER)
        scheme, _, token = header.partition(" ")
        token = token.strip()
        # Go's grpc_auth.AuthFromMD, which the real server uses, compares the scheme caselessly.
        if scheme.lower() != "bearer" or not token:
            raise _Failure(grpc.StatusCode.UNAUTHENTICATED, _UNAUTHENTICATED_BEARER)
        try:
            identity = self._tokens.verify(token)
        except TokenError as exc:
            raise _Failure(grpc.StatusCode.UNAUTHENTICATED, f"Failed to validate access token: {exc}") from None
        namespace = self._store.namespace(identity.namespace)
        if namespace is None:
            raise _Failure(grpc.StatusCode.NOT_FOUND, f"namespace '{identity.namespace}' not found")
        return Caller(identity.user, namespace)

    # --- namespaces ----------------------------------------------------------------------------

    @_management_rpc
    def CreateNamespace(
        self, request: management_pb2.CreateNamespaceRequest, caller: Caller
    ) -> management_pb2.CreateNamespaceResponse:
        """Creates a namespace; ``code`` 0 takes the next free one, ``id`` defaults to the name."""
        if not request.name:
            raise _Failure(grpc.StatusCode.INVALID_ARGUMENT, "Empty namespace name is not allowed")
        if request.code > _INT32_MAX:  # NamespaceInfo.code is int32
            raise _Failure(grpc.StatusCode.INVALID_ARGUMENT, f"namespace code must be at most {_INT32_MAX}")
        try:
            namespace = self._store.create_namespace(request.name, request.id, request.code)
        except NamespaceExistsError as exc:
            raise _Failure(grpc.StatusCode.ALREADY_EXISTS, str(exc)) from None
        return management_pb2.CreateNamespaceResponse(
            message=f"Namespace created, with code={namespace.code}, and id={namespace.id}",
            status="CREATED",
            namespace=_info(namespace),
        )

    @_management_rpc
    def ListNamespaces(
        self, request: management_pb2.ListNamespacesRequest, caller: Caller
    ) -> management_pb2.ListNamespacesResponse:
        """Lists all namespaces, or the one ``namespace_id`` names (none if it does not exist)."""
        namespaces = self._store.namespaces()
        if request.namespace_id:
            namespaces = [ns for ns in namespaces if ns.id == request.namespace_id]
        response = management_pb2.ListNamespacesResponse(namespaces=map(_info, namespaces))
        if request.describe:
            details = [
                {
                    "code": ns.code,
                    "id": ns.id,
                    "name": ns.name,
                    **self._store.namespace_stats(ns.code),
                }
                for ns in namespaces
            ]
            response.data.details = json.dumps(details)
        return response

    @_management_rpc
    def DeleteNamespace(
        self, request: management_pb2.DeleteNamespaceRequest, caller: Caller
    ) -> management_pb2.DeleteNamespaceResponse:
        """Deletes a namespace and all its metadata; ``default_namespace`` cannot go."""
        namespace_id = request.namespace_id
        if not namespace_id:
            raise _Failure(grpc.StatusCode.INVALID_ARGUMENT, "namespace_id is required")
        if namespace_id == DEFAULT_NAMESPACE:
            raise _Failure(grpc.StatusCode.FAILED_PRECONDITION, f"{DEFAULT_NAMESPACE} cannot be deleted")
        try:
            self._store.delete_namespace(namespace_id)
        except NamespaceNotFoundError:
            raise _Failure(grpc.StatusCode.NOT_FOUND, f"namespace '{namespace_id}' not found") from None
        return management_pb2.DeleteNamespaceResponse(message="Namespace deleted", status="DELETED")

    # --- user metadata -------------------------------------------------------------------------

    @_management_rpc
    def InsertUserMetadata(
        self, request: management_pb2.InsertUserMetadataRequest, caller: Caller
    ) -> management_pb2.InsertUserMetadataResponse:
        """Stores a new key; an existing key is INTERNAL, as on the real server."""
        key, value, code = request.metadataKey, request.value, caller.namespace.code
        failure = "Failed to insert user metadata."
        _check_key(key, failure)
        _check_value(value, failure)
        if not self._store.insert_user(code, caller.user, key, value):
            raise _Failure(grpc.StatusCode.INTERNAL, failure)
        return management_pb2.InsertUserMetadataResponse(
            metadataKey=key, userId=caller.user, namespaceId=code, value=value
        )

    @_management_rpc
    def GetUserMetadata(
        self, request: management_pb2.GetUserMetadataRequest, caller: Caller
    ) -> management_pb2.GetUserMetadataResponse:
        """Reads a key; a missing key is OK with an empty value."""
        key, code = request.metadataKey, caller.namespace.code
        _check_key(key, "Failed to read user metadata.")
        value = self._store.get_user(code, caller.user, key)
        return management_pb2.GetUserMetadataResponse(
            metadataKey=key, userId=caller.user, namespaceId=code, value=value or b""
        )

    @_management_rpc
    def UpdateUserMetadata(
        self, request: management_pb2.UpdateUserMetadataRequest, caller: Caller
    ) -> management_pb2.UpdateUserMetadataResponse:
        """Overwrites a key, creating it if missing (an upsert)."""
        key, value, code = request.metadataKey, request.value, caller.namespace.code
        failure = "Failed to update user metadata."
        _check_key(key, failure)
        _check_value(value, failure)
        self._store.upsert_user(code, caller.user, key, value)
        return management_pb2.UpdateUserMetadataResponse(
            metadataKey=key, userId=caller.user, namespaceId=code, value=value
        )

    # --- namespace metadata --------------------------------------------------------------------

    @_management_rpc
    def InsertNamespaceMetadata(
        self, request: management_pb2.InsertNamespaceMetadataRequest, caller: Caller
    ) -> management_pb2.InsertNamespaceMetadataResponse:
        """Stores a new namespace key; existing or reserved keys are INTERNAL."""
        key, value, code = request.metadataKey, request.value, caller.namespace.code
        failure = "Failed to insert namespace metadata."
        _check_key(key, failure, RESERVED_NAMESPACE_KEYS)
        _check_value(value, failure)
        if not self._store.insert_namespace_value(code, key, value):
            raise _Failure(grpc.StatusCode.INTERNAL, failure)
        return management_pb2.InsertNamespaceMetadataResponse(metadataKey=key, namespaceId=code, value=value)

    @_management_rpc
    def GetNamespaceMetadata(
        self, request: management_pb2.GetNamespaceMetadataRequest, caller: Caller
    ) -> management_pb2.GetNamespaceMetadataResponse:
        """Reads a namespace key; a missing key is OK with an empty value."""
        key, code = request.metadataKey, caller.namespace.code
        _check_key(key, "Failed to read namespace metadata.", RESERVED_NAMESPACE_KEYS)
        value = self._store.get_namespace_value(code, key)
        return management_pb2.GetNamespaceMetadataResponse(metadataKey=key, namespaceId=code, value=value or b"")

    @_management_rpc
    def UpdateNamespaceMetadata(
        self, request: management_pb2.UpdateNamespaceMetadataRequest, caller: Caller
    ) -> management_pb2.UpdateNamespaceMetadataResponse:
        """Overwrites a namespace key, creating it if missing."""
        key, value, code = request.metadataKey, request.value, caller.namespace.code
        failure = "Failed to update namespace metadata."
        _check_key(key, failure, RESERVED_NAMESPACE_KEYS)
        _check_value(value, failure)
        self._store.upsert_namespace_value(code, key, value)
        return management_pb2.UpdateNamespaceMetadataResponse(metadataKey=key, namespaceId=code, value=value)


class AuthService(auth_pb2_grpc.AuthServicer):
    """``tigrisdata.auth.v1.Auth``: client-credentials tokens."""

    def __init__(self, clients: Iterable[ClientCredential], tokens: TokenAuthority, ttl: int) -> None:
        """Creates the servicer.

        Args:
            clients: Who may obtain tokens.
            tokens: Signs the tokens.
            ttl: Token lifetime in seconds.
        """
        self._clients = {c.client_id: c for c in clients}
        self._tokens = tokens
        self._ttl = ttl

    @_public_rpc
    def GetAccessToken(self, request: auth_pb2.GetAccessTokenRequest) -> auth_pb2.GetAccessTokenResponse:
        """Issues a token for a CLIENT_CREDENTIALS grant; refresh tokens are not supported."""
        if request.grant_type == auth_pb2.REFRESH_TOKEN:
            raise _Failure(grpc.StatusCode.UNIMPLEMENTED, "grant_type REFRESH_TOKEN is not supported")
        if request.grant_type != auth_pb2.CLIENT_CREDENTIALS:
            raise _Failure(grpc.StatusCode.INVALID_ARGUMENT, "unsupported grant_type")
        client = self._clients.get(request.client_id)
        # Compare against something even for an unknown id, so timing does not reveal ids.
        expected = client.client_secret if client is not None else "\0unknown client"
        if not hmac.compare_digest(request.client_secret.encode(), expected.encode()) or (client is None):
            raise _Failure(grpc.StatusCode.UNAUTHENTICATED, "Invalid credentials")
        token = self._tokens.issue(client.client_id, client.namespace, self._ttl)
        return auth_pb2.GetAccessTokenResponse(access_token=token, expires_in=self._ttl)


class HealthService(health_pb2_grpc.HealthAPIServicer):
    """``HealthAPI``: answers "OK" while serving."""

    @_public_rpc
    def Health(self, request: health_pb2.HealthCheckInput) -> health_pb2.HealthCheckResponse:
        """Always "OK"; needs no token."""
        return health_pb2.HealthCheckResponse(response="OK")
