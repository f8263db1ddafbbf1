"""SDKError and its per-code subclasses, and the one function that builds them from gRPC errors.

Classes register the Tigris codes they stand for (``codes = (...)``); `from_grpc_error` looks the
code up in that table. The Tigris code is taken from the ``google.rpc.ErrorInfo.reason`` that the
server puts in ``grpc-status-details-bin``, so Tigris's extended codes (CONFLICT, BAD_GATEWAY, ...)
that travel as gRPC UNKNOWN still reach the right class. Messages are never parsed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]

#: The HTTP status the Tigris server uses for each code (CONTRACT.md), keyed by code name.
HTTP_STATUS: dict[str, int] = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 412,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
    "CONFLICT": 409,
    "BAD_GATEWAY": 502,
    # Not in the server's table; 405 is what the name says.
    "METHOD_NOT_ALLOWED": 405,
    "CONTENT_TOO_LARGE": 413,
}

_STATUS_DETAILS_KEY = "grpc-status-details-bin"
_CLASS_BY_CODE: dict[str, type[SDKError]] = {}


class SDKError(Exception):
    """A failed Tigris call.

    Attributes:
        message: The server's message (or ours, for errors raised before a call).
        status_code: The HTTP status Tigris uses for this code (404, 409, 500, ...).
        body: The JSON error body the REST API would have sent.
        raw_response: The original `grpc.RpcError`, or None.
        grpc_code: The gRPC status code, or None.
        code: The Tigris code name, e.g. ``"CONFLICT"`` even when the gRPC code is UNKNOWN.
        retry_delay: Seconds the server asked us to wait before retrying (RetryInfo), or None.
    """

    #: Tigris code names this class stands for; subclasses register themselves with them.
    codes: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        message: str,
        status_code: int = 500,
        body: str = "",
        raw_response: Any = None,
        *,
        grpc_code: grpc.StatusCode | None = None,
        code: str | None = None,
        retry_delay: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = body
        self.raw_response = raw_response
        self.grpc_code = grpc_code
        self.code = code
        self.retry_delay = retry_delay

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for code in cls.__dict__.get("codes", ()):
            _CLASS_BY_CODE[code] = cls

    def __str__(self) -> str:
        text = f"{self.message}: Status {self.status_code}"
        return f"{text}\n{self.body}" if self.body else text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status_code={self.status_code}, message={self.message!r})"

    def __reduce__(self) -> Any:
        # Picklable (for process pools); the grpc error itself is not.
        kwargs = {"grpc_code": self.grpc_code, "code": self.code, "retry_delay": self.retry_delay}
        return (_rebuild, (type(self), self.message, self.status_code, self.body, kwargs))


def _rebuild(cls: type[SDKError], message: str, status_code: int, body: str, kwargs: dict[str, Any]) -> SDKError:
    return cls(message, status_code, body, None, **kwargs)


class BadRequestError(SDKError):
    """The request was invalid (INVALID_ARGUMENT, OUT_OF_RANGE): 400."""

    codes = ("INVALID_ARGUMENT", "OUT_OF_RANGE")


class UnauthenticatedError(SDKError):
    """Missing, invalid or expired credentials (UNAUTHENTICATED): 401."""

    codes = ("UNAUTHENTICATED",)


class PermissionDeniedError(SDKError):
    """Authenticated but not allowed (PERMISSION_DENIED): 403."""

    codes = ("PERMISSION_DENIED",)


class NotFoundError(SDKError):
    """The resource does not exist (NOT_FOUND): 404."""

    codes = ("NOT_FOUND",)


class MethodNotAllowedError(SDKError):
    """Tigris's METHOD_NOT_ALLOWED: 405."""

    codes = ("METHOD_NOT_ALLOWED",)


class ConflictError(SDKError):
    """A conflicting write (ALREADY_EXISTS, ABORTED, Tigris's CONFLICT): 409."""

    codes = ("ALREADY_EXISTS", "ABORTED", "CONFLICT")


class PreconditionFailedError(SDKError):
    """FAILED_PRECONDITION: 412."""

    codes = ("FAILED_PRECONDITION",)


class ContentTooLargeError(SDKError):
    """Tigris's CONTENT_TOO_LARGE: 413."""

    codes = ("CONTENT_TOO_LARGE",)


class TooManyRequestsError(SDKError):
    """Rate or quota limit (RESOURCE_EXHAUSTED): 429. See `retry_delay`."""

    codes = ("RESOURCE_EXHAUSTED",)


class RequestCancelledError(SDKError):
    """The call was cancelled (CANCELLED): 499."""

    codes = ("CANCELLED",)


class InternalServerError(SDKError):
    """The server failed (INTERNAL, UNKNOWN, DATA_LOSS): 500.

    The real server also reports storage refusals this way, e.g. inserting a key that exists.
    """

    codes = ("INTERNAL", "UNKNOWN", "DATA_LOSS")


class UnimplementedError(SDKError):
    """The server does not implement this (UNIMPLEMENTED): 501."""

    codes = ("UNIMPLEMENTED",)


class BadGatewayError(SDKError):
    """Tigris's BAD_GATEWAY: 502."""

    codes = ("BAD_GATEWAY",)


class UnavailableError(SDKError):
    """The server could not be reached, after retries (UNAVAILABLE): 503."""

    codes = ("UNAVAILABLE",)


class DeadlineExceededError(SDKError):
    """The call's deadline passed (DEADLINE_EXCEEDED): 504."""

    codes = ("DEADLINE_EXCEEDED",)


def error_body(code: str, message: str) -> str:
    """The JSON error body the Tigris REST API sends for this code and message."""
    return json.dumps({"error": {"code": code, "message": message}})


def make_error(
    code: str,
    message: str,
    *,
    raw_response: Any = None,
    grpc_code: grpc.StatusCode | None = None,
    retry_delay: float | None = None,
) -> SDKError:
    """Build the SDKError subclass for a Tigris code name."""
    cls = _CLASS_BY_CODE.get(code, SDKError)
    return cls(
        message,
        HTTP_STATUS.get(code, 500),
        error_body(code, message),
        raw_response,
        grpc_code=grpc_code,
        code=code,
        retry_delay=retry_delay,
    )


def _status_details(trailing: Sequence[tuple[str, Any]] | None) -> tuple[str | None, float | None]:
    """ErrorInfo.reason and RetryInfo delay from the trailers, if the server sent them."""
    for key, value in trailing or ():
        if key != _STATUS_DETAILS_KEY:
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except Exception:  # noqa: BLE001 - a malformed trailer must not hide the real error
            return None, None
        reason: str | None = None
        delay: float | None = None
        for detail in status.details:
            try:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    reason = info.reason or reason
                elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                    retry = error_details_pb2.RetryInfo()
                    detail.Unpack(retry)
                    delay = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
            except DecodeError:
                continue  # a corrupt detail must not hide the real error, nor the other details
        return reason, delay
    return None, None


def from_grpc_error(exc: grpc.RpcError, *, prefix: str = "") -> SDKError:
    """Map a gRPC error (sync or aio) to the matching SDKError; the caller raises it ``from exc``.

    Args:
        exc: The error grpc raised; it is kept as ``raw_response``.
        prefix: Put before the server's message, to say what was being done.
    """
    call: Any = exc  # sync and aio errors both carry the grpc.Call accessors
    grpc_code: grpc.StatusCode = call.code()
    details: str | None = call.details()
    reason, delay = _status_details(call.trailing_metadata())
    code = reason if reason in HTTP_STATUS else grpc_code.name
    message = details or code
    if prefix:
        message = f"{prefix}: {message}"
    return make_error(code, message, raw_response=exc, grpc_code=grpc_code, retry_delay=delay)


#: Every public error class, for re-export.
ERROR_CLASSES: tuple[type[SDKError], ...] = (
    SDKError,
    BadRequestError,
    UnauthenticatedError,
    PermissionDeniedError,
    NotFoundError,
    MethodNotAllowedError,
    ConflictError,
    PreconditionFailedError,
    ContentTooLargeError,
    TooManyRequestsError,
    RequestCancelledError,
    InternalServerError,
    UnimplementedError,
    BadGatewayError,
    UnavailableError,
    DeadlineExceededError,
)
