"""tigris-grpc: a gRPC-native client for the Tigris Management API.

``import tigris_grpc as tigris`` stands in for the REST SDK's ``import tigris``::

    import tigris_grpc as tigris
    from tigris_grpc.models import operations, shared

    s = tigris.Tigris(bearer_auth="<token>", server_url="localhost:8081")
    res = s.user.get_metadata(metadata_key="theme")

The public names are loaded on first use (PEP 562): the package is also a pytest plugin, loaded
by every pytest run in an environment that has it installed, and should cost those runs little.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from tigris_grpc import _pb as _pb  # fails early, with a hint, when the generated stubs are missing
from tigris_grpc._version import __version__

if TYPE_CHECKING:
    from tigris_grpc import models
    from tigris_grpc._auth import AsyncBearerAuthInterceptor, BearerAuthInterceptor
    from tigris_grpc._client import AsyncTigris, Tigris
    from tigris_grpc._config import RetryPolicy
    from tigris_grpc._errors import (
        BadGatewayError,
        BadRequestError,
        ConflictError,
        ContentTooLargeError,
        DeadlineExceededError,
        InternalServerError,
        MethodNotAllowedError,
        NotFoundError,
        PermissionDeniedError,
        PreconditionFailedError,
        RequestCancelledError,
        SDKError,
        TooManyRequestsError,
        UnauthenticatedError,
        UnavailableError,
        UnimplementedError,
    )

_ERRORS = "tigris_grpc._errors"
# Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "AsyncBearerAuthInterceptor": "tigris_grpc._auth",
    "AsyncTigris": "tigris_grpc._client",
    "BadGatewayError": _ERRORS,
    "BadRequestError": _ERRORS,
    "BearerAuthInterceptor": "tigris_grpc._auth",
    "ConflictError": _ERRORS,
    "ContentTooLargeError": _ERRORS,
    "DeadlineExceededError": _ERRORS,
    "InternalServerError": _ERRORS,
    "MethodNotAllowedError": _ERRORS,
    "NotFoundError": _ERRORS,
    "PermissionDeniedError": _ERRORS,
    "PreconditionFailedError": _ERRORS,
    "RequestCancelledError": _ERRORS,
    "RetryPolicy": "tigris_grpc._config",
    "SDKError": _ERRORS,
    "Tigris": "tigris_grpc._client",
    "TooManyRequestsError": _ERRORS,
    "UnauthenticatedError": _ERRORS,
    "UnavailableError": _ERRORS,
    "UnimplementedError": _ERRORS,
}

__all__ = [
    "AsyncBearerAuthInterceptor",
    "AsyncTigris",
    "BadGatewayError",
    "BadRequestError",
    "BearerAuthInterceptor",
    "ConflictError",
    "ContentTooLargeError",
    "DeadlineExceededError",
    "InternalServerError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "RequestCancelledError",
    "RetryPolicy",
    "SDKError",
    "Tigris",
    "TooManyRequestsError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "__version__",
    "models",
]


def __getattr__(name: str) -> object:
    if name == "models":
        value: object = importlib.import_module("tigris_grpc.models")
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module 'tigris_grpc' has no attribute {name!r}")
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
