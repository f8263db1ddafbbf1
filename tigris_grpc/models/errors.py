"""Errors, under the module name the REST SDK uses (``models.errors.SDKError``)."""

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

__all__ = [
    "BadGatewayError",
    "BadRequestError",
    "ConflictError",
    "ContentTooLargeError",
    "DeadlineExceededError",
    "InternalServerError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "RequestCancelledError",
    "SDKError",
    "TooManyRequestsError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
]
