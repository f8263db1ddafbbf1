"""tigris-grpc: a gRPC-native client for the Tigris Management API."""

from tigris_grpc import _pb as _pb  # fails early, with a hint, when the stubs are missing
from tigris_grpc._version import __version__

__all__ = ["__version__"]
