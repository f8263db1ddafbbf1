"""tigris-grpc: a gRPC-native client for the Tigris Management API.

``import tigris_grpc as tigris`` stands in for the REST SDK's ``import tigris``::

    import tigris_grpc as tigris
    from tigris_grpc.models import operations, shared

    s = tigris.Tigris(bearer_auth="<token>", server_url="localhost:8081")
    res = s.user.get_metadata(metadata_key="theme")
"""

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
from tigris_grpc._version import __version__

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
