"""Operation requests and responses (the REST SDK's ``operations`` module).

A response carries ``status_code`` (200: failures raise `SDKError` instead), ``content_type``
(``application/grpc``), ``raw_response`` (the protobuf message the server sent) and the body.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tigris_grpc.models import shared

__all__ = [
    "AuthGetAccessTokenResponse",
    "CreateNamespaceResponse",
    "ManagementDeleteNamespaceResponse",
    "ManagementDescribeNamespacesResponse",
    "ManagementGetNamespaceMetadataRequest",
    "ManagementGetNamespaceMetadataResponse",
    "ManagementGetUserMetadataRequest",
    "ManagementGetUserMetadataResponse",
    "ManagementInsertNamespaceMetadataRequest",
    "ManagementInsertNamespaceMetadataResponse",
    "ManagementInsertUserMetadataRequest",
    "ManagementInsertUserMetadataResponse",
    "ManagementListNamespacesResponse",
    "ManagementUpdateNamespaceMetadataRequest",
    "ManagementUpdateNamespaceMetadataResponse",
    "ManagementUpdateUserMetadataRequest",
    "ManagementUpdateUserMetadataResponse",
]


@dataclasses.dataclass
class _OperationResponse:
    """What every operation response carries besides its body."""

    content_type: str = "application/grpc"
    status_code: int = 200
    raw_response: Any = dataclasses.field(default=None, repr=False)
    #: The REST SDK's error body; always None here, since failures raise SDKError.
    status: Any = None


# --- Requests ------------------------------------------------------------------------------------


@dataclasses.dataclass
class ManagementGetUserMetadataRequest:
    """Read the user-metadata entry ``metadata_key``."""

    get_user_metadata_request: shared.GetUserMetadataRequest = dataclasses.field(
        default_factory=shared.GetUserMetadataRequest
    )
    metadata_key: str = ""


@dataclasses.dataclass
class ManagementInsertUserMetadataRequest:
    """Insert ``insert_user_metadata_request.value`` under ``metadata_key``."""

    insert_user_metadata_request: shared.InsertUserMetadataRequest = dataclasses.field(
        default_factory=shared.InsertUserMetadataRequest
    )
    metadata_key: str = ""


@dataclasses.dataclass
class ManagementUpdateUserMetadataRequest:
    """Set ``update_user_metadata_request.value`` under ``metadata_key`` (an upsert)."""

    update_user_metadata_request: shared.UpdateUserMetadataRequest = dataclasses.field(
        default_factory=shared.UpdateUserMetadataRequest
    )
    metadata_key: str = ""


@dataclasses.dataclass
class ManagementGetNamespaceMetadataRequest:
    """Read the namespace-metadata entry ``metadata_key``."""

    get_namespace_metadata_request: shared.GetNamespaceMetadataRequest = dataclasses.field(
        default_factory=shared.GetNamespaceMetadataRequest
    )
    metadata_key: str = ""


@dataclasses.dataclass
class ManagementInsertNamespaceMetadataRequest:
    """Insert ``insert_namespace_metadata_request.value`` under ``metadata_key``."""

    insert_namespace_metadata_request: shared.InsertNamespaceMetadataRequest = dataclasses.field(
        default_factory=shared.InsertNamespaceMetadataRequest
    )
    metadata_key: str = ""


@dataclasses.dataclass
class ManagementUpdateNamespaceMetadataRequest:
    """Set ``update_namespace_metadata_request.value`` under ``metadata_key`` (an upsert)."""

    update_namespace_metadata_request: shared.UpdateNamespaceMetadataRequest = dataclasses.field(
        default_factory=shared.UpdateNamespaceMetadataRequest
    )
    metadata_key: str = ""


# --- Responses -----------------------------------------------------------------------------------


@dataclasses.dataclass
class ManagementGetUserMetadataResponse(_OperationResponse):
    """Answer to `user.get_metadata`."""

    get_user_metadata_response: shared.GetUserMetadataResponse | None = None


@dataclasses.dataclass
class ManagementInsertUserMetadataResponse(_OperationResponse):
    """Answer to `user.insert_metadata`."""

    insert_user_metadata_response: shared.InsertUserMetadataResponse | None = None


@dataclasses.dataclass
class ManagementUpdateUserMetadataResponse(_OperationResponse):
    """Answer to `user.update_metadata`."""

    update_user_metadata_response: shared.UpdateUserMetadataResponse | None = None


@dataclasses.dataclass
class ManagementGetNamespaceMetadataResponse(_OperationResponse):
    """Answer to `namespace.get_metadata`."""

    get_namespace_metadata_response: shared.GetNamespaceMetadataResponse | None = None


@dataclasses.dataclass
class ManagementInsertNamespaceMetadataResponse(_OperationResponse):
    """Answer to `namespace.insert_metadata`."""

    insert_namespace_metadata_response: shared.InsertNamespaceMetadataResponse | None = None


@dataclasses.dataclass
class ManagementUpdateNamespaceMetadataResponse(_OperationResponse):
    """Answer to `namespace.update_metadata`."""

    update_namespace_metadata_response: shared.UpdateNamespaceMetadataResponse | None = None


@dataclasses.dataclass
class CreateNamespaceResponse(_OperationResponse):
    """Answer to `namespace.create`."""

    create_namespace_response: shared.CreateNamespaceResponse | None = None


@dataclasses.dataclass
class ManagementListNamespacesResponse(_OperationResponse):
    """Answer to `namespace.list`."""

    list_namespaces_response: shared.ListNamespacesResponse | None = None


@dataclasses.dataclass
class ManagementDescribeNamespacesResponse(_OperationResponse):
    """Answer to `namespace.get` (describe all namespaces)."""

    describe_namespaces_response: shared.DescribeNamespacesResponse | None = None


@dataclasses.dataclass
class ManagementDeleteNamespaceResponse(_OperationResponse):
    """Answer to `namespace.delete`."""

    delete_namespace_response: shared.DeleteNamespaceResponse | None = None


@dataclasses.dataclass
class AuthGetAccessTokenResponse(_OperationResponse):
    """Answer to `auth.get_access_token`."""

    get_access_token_response: shared.GetAccessTokenResponse | None = None
