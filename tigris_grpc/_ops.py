"""Every operation as data: its RPC, how its request is built and checked, how its answer is read.

The sync and async clients share all of this; only the call edge (`_edge.py`) differs.
Validation happens here, before any I/O, so nothing invalid ever reaches the server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson
from google.protobuf.message import Message

from tigris_grpc._errors import make_error
from tigris_grpc._limits import MAX_KEY_BYTES, MAX_VALUE_BYTES
from tigris_grpc._pb import auth_pb2, health_pb2, management_pb2
from tigris_grpc.models import operations, shared

_R = TypeVar("_R")

_MGMT = "/tigrisdata.management.v1.Management/"
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class _Unset:
    """Marks an argument the caller did not pass (None is a value for some of them)."""

    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()


# --- Checks and codecs -----------------------------------------------------------------------------


def check_key(key: object, name: str = "metadata_key") -> str:
    """A metadata key: a non-empty str of at most MAX_KEY_BYTES UTF-8 bytes."""
    if not isinstance(key, str):
        raise TypeError(f"{name} must be a str, not {type(key).__name__}")
    if not key:
        raise ValueError(f"{name} must not be empty")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not valid Unicode text (it contains a lone surrogate)") from None
    if size > MAX_KEY_BYTES:
        raise ValueError(f"{name} is {size} bytes in UTF-8; Tigris accepts at most {MAX_KEY_BYTES}")
    return key


def encode_value(value: Any) -> bytes:
    """A JSON value as compact UTF-8 JSON bytes, checked against the server's limits.

    The value itself never appears in the error text: it may be sensitive.
    """
    if value is None or value is UNSET:
        raise ValueError("value is required (None cannot be stored: Tigris drops empty values)")
    try:
        data = _ENCODER.encode(value).encode("utf-8")
    except RecursionError:
        raise ValueError("value is not JSON-serialisable: it is nested too deeply") from None
    except (TypeError, ValueError) as exc:
        # json's messages name types and positions, never the data.
        raise ValueError(f"value is not JSON-serialisable: {exc}") from None
    if len(data) > MAX_VALUE_BYTES:
        raise ValueError(f"value is {len(data)} bytes as JSON; Tigris accepts at most {MAX_VALUE_BYTES}")
    return data


#: orjson reads integers beyond 64 bits as floats, losing digits: values with a run of 19 or more
#: digits anywhere (even inside a string: the check is cheap and errs on the safe side) go to json.
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


def decode_value(data: bytes) -> Any:
    """Stored bytes back to a JSON value; None when empty. Bytes that are not JSON (written by
    another client), or JSON nested too deeply for Python, are returned as they are rather than lost.

    orjson reads the common case (a third of json's CPU time, and it allocates far less); whatever
    it refuses, json decides, so the result is always what ``json.loads`` gives: NaN, a BOM,
    UTF-16/32, lone surrogates and big integers included.
    """
    if not data:
        return None
    if _LONG_DIGITS.search(data) is None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return data


#: The longest deadline passed to grpc (seconds); longer timeouts are shortened to it.
MAX_TIMEOUT = 365 * 24 * 3600.0


def check_timeout(timeout: object) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if not 0 < timeout < float("inf"):  # also rejects NaN
        raise ValueError(f"timeout must be a positive, finite number of seconds, got {timeout}")
    # grpc's deadline arithmetic overflows past ~7.4e9 s and the call then fails at once with
    # DEADLINE_EXCEEDED; a year is as good as forever for a call (the server caps it at 30 s).
    return min(float(timeout), MAX_TIMEOUT)


_HEADER_KEY = re.compile(r"[0-9a-z_.\-]+\Z")  # what grpc accepts in a metadata key
_HEADER_TEXT = re.compile(r"[\x20-\x7e]*\Z")  # ... and in the value of a key without -bin


def check_metadata(metadata: object) -> tuple[tuple[str, str | bytes], ...]:
    """Caller metadata, checked as grpc would check it, as a tuple of ``(key, value)`` pairs.

    Keys are lower-case header names; values are printable ASCII, or bytes for ``-bin`` keys.
    Checking here turns mistakes into a TypeError/ValueError naming the key, where grpc would
    fail the call with INTERNAL (or a dict would be silently taken apart). Values, which may
    be secrets, never appear in the messages.
    """
    if isinstance(metadata, (str, bytes, Mapping)) or not isinstance(metadata, Iterable):
        raise TypeError(f"metadata must be a sequence of (key, value) pairs, not {type(metadata).__name__}")
    pairs: list[tuple[str, str | bytes]] = []
    for item in metadata:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TypeError("metadata must be a sequence of (key, value) pairs")
        key, value = item
        if not isinstance(key, str):
            raise TypeError(f"a metadata key must be a str, not {type(key).__name__}")
        if not _HEADER_KEY.match(key):
            raise ValueError(f"metadata key {key[:100]!r} is not a valid header name (use a-z, 0-9, '-', '_', '.')")
        if key.endswith("-bin"):
            if not isinstance(value, bytes):
                raise TypeError(f"the value of binary metadata key {key!r} must be bytes, not {type(value).__name__}")
        elif not isinstance(value, (str, bytes)):
            raise TypeError(f"the value of metadata key {key!r} must be a str, not {type(value).__name__}")
        elif not _HEADER_TEXT.match(value if isinstance(value, str) else value.decode("latin-1")):
            raise ValueError(f"the value of metadata key {key!r} must be printable ASCII (or use a '-bin' key)")
        pairs.append((key, value))
    return tuple(pairs)


def _either(request: object, **flattened: Any) -> None:
    given = [name for name, value in flattened.items() if value is not None and value is not UNSET]
    if request is not None and given:
        raise ValueError(f"pass either a request object or {', '.join(given)}, not both")


def _wrong_request(request: object, *expected: type) -> TypeError:
    names = " or ".join(t.__name__ for t in expected)
    return TypeError(f"request must be a {names}, not {type(request).__name__}")


# --- Operations ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Op(Generic[_R]):
    """One RPC: where it goes and how its answer becomes the model users get."""

    path: str
    request_type: type[Message]
    response_type: type[Message]
    parse: Callable[[Any], _R]
    needs_auth: bool = True
    #: For reads: the empty answer for a key, used when an older server says "not found".
    missing: Callable[[Message], Message] | None = None
    #: The exact message of that older server's answer.
    missing_message: str = ""
    #: How a request becomes bytes, when not by ``request_type.SerializeToString``.
    serialize: Callable[[Any], bytes] | None = None
    #: Position in the client's table of callables, set when the table is built.
    index: int = field(default=-1, compare=False)


@dataclass(frozen=True, eq=False)
class MetadataKind:
    """The request and response types of one metadata RPC (user or namespace; get, insert, update)."""

    op_request: type
    body_attr: str
    writes: bool
    body_type: type
    op_response: type
    response_attr: str
    has_user: bool

    def build(self, op: Op[Any], request: object, metadata_key: object, value: Any) -> Message:
        """The protobuf request from a REST-shaped request, a protobuf request, or flattened fields."""
        if request is not None:
            # Only a request object can clash with flattened fields: the flattened calls (the
            # common, per-call hot path) skip building the check's keyword dict.
            _either(request, metadata_key=metadata_key, value=value)
            if isinstance(request, self.op_request):
                metadata_key = request.metadata_key  # type: ignore[attr-defined]
                if self.writes:
                    value = getattr(getattr(request, self.body_attr), "value", None)
            elif isinstance(request, op.request_type):
                metadata_key = request.metadataKey  # type: ignore[attr-defined]
                if self.writes:
                    if not request.value:  # type: ignore[attr-defined]
                        raise ValueError("value is required (an empty value cannot be stored)")
                    if len(request.value) > MAX_VALUE_BYTES:  # type: ignore[attr-defined]
                        raise ValueError(f"value is over the {MAX_VALUE_BYTES}-byte limit")
                check_key(metadata_key)
                return request
            else:
                raise _wrong_request(request, self.op_request, op.request_type)
        elif metadata_key is None:
            raise ValueError("metadata_key is required")
        key = check_key(metadata_key)
        if self.writes:
            return op.request_type(metadataKey=key, value=encode_value(value))  # type: ignore[call-arg]
        return op.request_type(metadataKey=key)  # type: ignore[call-arg]

    def parse(self, msg: Any) -> Any:
        if self.has_user:
            body = self.body_type(msg.metadataKey, msg.namespaceId, msg.userId, decode_value(msg.value))
        else:
            body = self.body_type(msg.metadataKey, msg.namespaceId, decode_value(msg.value))
        answer = self.op_response(raw_response=msg)
        setattr(answer, self.response_attr, body)
        return answer


def _metadata_op(scope: str, verb: str, op_response: type[_R]) -> tuple[Op[_R], MetadataKind]:
    """The Op and request/response types of ``<verb><scope>Metadata`` (e.g. GetUserMetadata)."""
    name = f"{verb}{scope}Metadata"
    snake = f"{verb.lower()}_{scope.lower()}_metadata"
    kind = MetadataKind(
        op_request=getattr(operations, f"Management{name}Request"),
        body_attr=f"{snake}_request",
        writes=verb != "Get",
        body_type=getattr(shared, f"{name}Response"),
        op_response=op_response,
        response_attr=f"{snake}_response",
        has_user=scope == "User",
    )
    response_type = getattr(management_pb2, f"{name}Response")

    def missing(request: Message) -> Message:
        return response_type(metadataKey=request.metadataKey)  # type: ignore[no-any-return, attr-defined]

    op: Op[_R] = Op(
        path=f"{_MGMT}{name}",
        request_type=getattr(management_pb2, f"{name}Request"),
        response_type=response_type,
        parse=kind.parse,
        missing=missing if verb == "Get" else None,
        missing_message=f"{scope.lower()} metadata not found",
    )
    return op, kind


GET_USER_METADATA, GET_USER_METADATA_KIND = _metadata_op("User", "Get", operations.ManagementGetUserMetadataResponse)
INSERT_USER_METADATA, INSERT_USER_METADATA_KIND = _metadata_op(
    "User", "Insert", operations.ManagementInsertUserMetadataResponse
)
UPDATE_USER_METADATA, UPDATE_USER_METADATA_KIND = _metadata_op(
    "User", "Update", operations.ManagementUpdateUserMetadataResponse
)
GET_NAMESPACE_METADATA, GET_NAMESPACE_METADATA_KIND = _metadata_op(
    "Namespace", "Get", operations.ManagementGetNamespaceMetadataResponse
)
INSERT_NAMESPACE_METADATA, INSERT_NAMESPACE_METADATA_KIND = _metadata_op(
    "Namespace", "Insert", operations.ManagementInsertNamespaceMetadataResponse
)
UPDATE_NAMESPACE_METADATA, UPDATE_NAMESPACE_METADATA_KIND = _metadata_op(
    "Namespace", "Update", operations.ManagementUpdateNamespaceMetadataResponse
)


# --- Namespaces ------------------------------------------------------------------------------------


def _namespace_info(msg: management_pb2.NamespaceInfo) -> shared.NamespaceInfo:
    return shared.NamespaceInfo(code=msg.code, id=msg.id, name=msg.name)


def build_create_namespace(
    request: shared.CreateNamespaceRequest | management_pb2.CreateNamespaceRequest | None,
    name: str | None,
    id: str | None,
    code: int | None,
) -> management_pb2.CreateNamespaceRequest:
    _either(request, name=name, id=id, code=code)
    if isinstance(request, management_pb2.CreateNamespaceRequest):
        request = shared.CreateNamespaceRequest(code=request.code, id=request.id, name=request.name)
    if request is not None:
        if not isinstance(request, shared.CreateNamespaceRequest):
            raise _wrong_request(request, shared.CreateNamespaceRequest, management_pb2.CreateNamespaceRequest)
        name, id, code = request.name, request.id, request.code
    name = check_key(name, "name")
    if id is not None:
        check_key(id, "id")
    if code is not None and (isinstance(code, bool) or not isinstance(code, int) or not 0 <= code < 2**31):
        raise ValueError(f"code must be an int from 0 to {2**31 - 1}, got {code!r}")
    return management_pb2.CreateNamespaceRequest(name=name, id=id or "", code=code or 0)


def _parse_create_namespace(
    msg: management_pb2.CreateNamespaceResponse,
) -> operations.CreateNamespaceResponse:
    body = shared.CreateNamespaceResponse(
        message=msg.message,
        namespace=_namespace_info(msg.namespace) if msg.HasField("namespace") else None,
        status=msg.status,
    )
    return operations.CreateNamespaceResponse(raw_response=msg, create_namespace_response=body)


def build_list_namespaces(namespace_id: str | None, describe: bool = False) -> management_pb2.ListNamespacesRequest:
    if namespace_id is not None:
        check_key(namespace_id, "namespace_id")
    if describe:
        return management_pb2.ListNamespacesRequest(namespace_id=namespace_id or "", describe=True)
    return management_pb2.ListNamespacesRequest(namespace_id=namespace_id or "")


def _parse_list_namespaces(
    msg: management_pb2.ListNamespacesResponse,
) -> operations.ManagementListNamespacesResponse:
    body = shared.ListNamespacesResponse(namespaces=[_namespace_info(ns) for ns in msg.namespaces])
    return operations.ManagementListNamespacesResponse(raw_response=msg, list_namespaces_response=body)


def _parse_describe_namespaces(
    msg: management_pb2.ListNamespacesResponse,
) -> operations.ManagementDescribeNamespacesResponse:
    data = shared.DescribeNamespacesData(details=msg.data.details) if msg.HasField("data") else None
    body = shared.DescribeNamespacesResponse(data=data)
    return operations.ManagementDescribeNamespacesResponse(raw_response=msg, describe_namespaces_response=body)


def build_delete_namespace(namespace_id: object) -> management_pb2.DeleteNamespaceRequest:
    if namespace_id is None:
        raise ValueError("namespace_id is required")
    return management_pb2.DeleteNamespaceRequest(namespace_id=check_key(namespace_id, "namespace_id"))


def _parse_delete_namespace(
    msg: management_pb2.DeleteNamespaceResponse,
) -> operations.ManagementDeleteNamespaceResponse:
    body = shared.DeleteNamespaceResponse(message=msg.message, status=msg.status)
    return operations.ManagementDeleteNamespaceResponse(raw_response=msg, delete_namespace_response=body)


CREATE_NAMESPACE: Op[operations.CreateNamespaceResponse] = Op(
    f"{_MGMT}CreateNamespace",
    management_pb2.CreateNamespaceRequest,
    management_pb2.CreateNamespaceResponse,
    _parse_create_namespace,
)
LIST_NAMESPACES: Op[operations.ManagementListNamespacesResponse] = Op(
    f"{_MGMT}ListNamespaces",
    management_pb2.ListNamespacesRequest,
    management_pb2.ListNamespacesResponse,
    _parse_list_namespaces,
)
# The same RPC as LIST_NAMESPACES with describe=true, read into the REST SDK's describe model.
DESCRIBE_NAMESPACES: Op[operations.ManagementDescribeNamespacesResponse] = Op(
    f"{_MGMT}ListNamespaces",
    management_pb2.ListNamespacesRequest,
    management_pb2.ListNamespacesResponse,
    _parse_describe_namespaces,
)
DELETE_NAMESPACE: Op[operations.ManagementDeleteNamespaceResponse] = Op(
    f"{_MGMT}DeleteNamespace",
    management_pb2.DeleteNamespaceRequest,
    management_pb2.DeleteNamespaceResponse,
    _parse_delete_namespace,
)


# --- Auth and health -------------------------------------------------------------------------------


class TokenRequest:
    """A CLIENT_CREDENTIALS GetAccessTokenRequest that keeps its secret out of its repr.

    A protobuf message prints every field, so the request would show the client secret wherever
    local variables are shown: tracebacks with locals, debuggers, error reporters. This wrapper
    is what travels through our frames instead; only grpc's serializer sees the message.
    """

    __slots__ = ("_message",)

    def __init__(self, client_id: str, client_secret: str) -> None:
        self._message = auth_pb2.GetAccessTokenRequest(
            grant_type=auth_pb2.CLIENT_CREDENTIALS, client_id=client_id, client_secret=client_secret
        )

    def SerializeToString(self) -> bytes:
        """The request's wire bytes."""
        return self._message.SerializeToString()

    def __repr__(self) -> str:
        return f"<GetAccessTokenRequest client_id={self._message.client_id!r} client_secret=<hidden>>"


def build_access_token_request(
    request: shared.GetAccessTokenRequest | None,
    client_id: str | None,
    client_secret: str | None,
    default: TokenRequest | None,
) -> TokenRequest:
    """A CLIENT_CREDENTIALS token request; with no arguments, the client's own credentials."""
    _either(request, client_id=client_id, client_secret=client_secret)
    if request is not None:
        if not isinstance(request, shared.GetAccessTokenRequest):
            raise _wrong_request(request, shared.GetAccessTokenRequest)
        if request.grant_type != shared.GrantType.CLIENT_CREDENTIALS:
            raise ValueError("Tigris issues tokens only for grant_type CLIENT_CREDENTIALS")
        client_id, client_secret = request.client_id, request.client_secret
    if client_id is None and client_secret is None:
        if default is None:
            raise ValueError("client_id and client_secret are required (this client has none configured)")
        return default
    return TokenRequest(check_key(client_id, "client_id"), check_key(client_secret, "client_secret"))


def _parse_access_token(
    msg: auth_pb2.GetAccessTokenResponse,
) -> operations.AuthGetAccessTokenResponse:
    body = shared.GetAccessTokenResponse(
        access_token=msg.access_token, expires_in=msg.expires_in, refresh_token=msg.refresh_token
    )
    return operations.AuthGetAccessTokenResponse(raw_response=msg, get_access_token_response=body)


def _parse_health(msg: health_pb2.HealthCheckResponse) -> bool:
    if msg.response != "OK":
        raise make_error("UNAVAILABLE", f"the server reports it is not healthy: {msg.response!r}")
    return True


GET_ACCESS_TOKEN: Op[operations.AuthGetAccessTokenResponse] = Op(
    "/tigrisdata.auth.v1.Auth/GetAccessToken",
    auth_pb2.GetAccessTokenRequest,
    auth_pb2.GetAccessTokenResponse,
    _parse_access_token,
    needs_auth=False,
    serialize=TokenRequest.SerializeToString,
)
HEALTH: Op[bool] = Op(
    "/HealthAPI/Health",
    health_pb2.HealthCheckInput,
    health_pb2.HealthCheckResponse,
    _parse_health,
    needs_auth=False,
)
HEALTH_REQUEST = health_pb2.HealthCheckInput()


#: Every operation; the clients build one callable per entry, once.
ALL_OPS: tuple[Op[Any], ...] = (
    GET_USER_METADATA,
    INSERT_USER_METADATA,
    UPDATE_USER_METADATA,
    GET_NAMESPACE_METADATA,
    INSERT_NAMESPACE_METADATA,
    UPDATE_NAMESPACE_METADATA,
    CREATE_NAMESPACE,
    LIST_NAMESPACES,
    DESCRIBE_NAMESPACES,
    DELETE_NAMESPACE,
    GET_ACCESS_TOKEN,
    HEALTH,
)
for _index, _op in enumerate(ALL_OPS):
    object.__setattr__(_op, "index", _index)
