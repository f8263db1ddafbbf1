"""The generated protobuf and gRPC modules, imported in one place.

They are build output (``make protos``, or the wheel build); a checkout without them gets an
ImportError that says what to run instead of a bare ModuleNotFoundError.
"""

from __future__ import annotations

try:
    from tigris_grpc._proto import (
        auth_pb2,
        auth_pb2_grpc,
        health_pb2,
        health_pb2_grpc,
        management_pb2,
        management_pb2_grpc,
        observability_pb2,
    )
except ImportError as exc:  # exercised by a subprocess test
    # `from package import missing_module` reports the package as the missing name.
    if not (exc.name or "").startswith("tigris_grpc._proto"):
        raise
    raise ImportError(
        "tigris_grpc's generated protobuf modules are missing: run `make protos` "
        "in the source checkout (or install the package with pip, which generates them)"
    ) from exc

__all__ = [
    "auth_pb2",
    "auth_pb2_grpc",
    "health_pb2",
    "health_pb2_grpc",
    "management_pb2",
    "management_pb2_grpc",
    "observability_pb2",
]
