"""Request and response models with the names of the published Tigris REST SDK.

``from tigris_grpc.models import operations, shared, errors`` stands in for
``from tigris.models import operations, shared, errors``.
"""

from tigris_grpc.models import errors, operations, shared

__all__ = ["errors", "operations", "shared"]
