"""Body models (the REST SDK's ``shared`` module), in snake_case.

Metadata values are JSON values (dict, list, str, number, bool); on the wire they are compact
UTF-8 JSON bytes, the encoding the Tigris HTTP gateway and console read.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

__all__ = [
    "CreateNamespaceRequest",
    "CreateNamespaceResponse",
    "DeleteNamespaceResponse",
    "DescribeNamespacesData",
    "DescribeNamespacesResponse",
    "GetAccessTokenRequest",
    "GetAccessTokenResponse",
    "GetNamespaceMetadataRequest",
    "GetNamespaceMetadataResponse",
    "GetUserMetadataRequest",
    "GetUserMetadataResponse",
    "GrantType",
    "InsertNamespaceMetadataRequest",
    "InsertNamespaceMetadataResponse",
    "InsertUserMetadataRequest",
    "InsertUserMetadataResponse",
    "ListNamespacesResponse",
    "NamespaceInfo",
    "UpdateNamespaceMetadataRequest",
    "UpdateNamespaceMetadataResponse",
    "UpdateUserMetadataRequest",
    "UpdateUserMetadataResponse",
]


# --- User metadata -------------------------------------------------------------------------------


@dataclasses.dataclass
class GetUserMetadataRequest:
    """Body of a user-metadata read. The key travels in the operation request."""

    metadata_key: str | None = None
    value: Any = None


@dataclasses.dataclass
class InsertUserMetadataRequest:
    """Body of a user-metadata insert: the JSON value to store."""

    metadata_key: str | None = None
    value: Any = None


@dataclasses.dataclass
class UpdateUserMetadataRequest:
    """Body of a user-metadata update (an upsert): the JSON value to store."""

    metadata_key: str | None = None
    value: Any = None


@dataclasses.dataclass
class GetUserMetadataResponse:
    """A user-metadata entry. ``value`` is None when the key has no value."""

    metadata_key: str | None = None
    namespace_id: int | None = None
    user_id: str | None = None
    value: Any = None


@dataclasses.dataclass
class InsertUserMetadataResponse:
    """The entry as inserted."""

    metadata_key: str | None = None
    namespace_id: int | None = None
    user_id: str | None = None
    value: Any = None


@dataclasses.dataclass
class UpdateUserMetadataResponse:
    """The entry as updated."""

    metadata_key: str | None = None
    namespace_id: int | None = None
    user_id: str | None = None
    value: Any = None


# --- Namespace metadata --------------------------------------------------------------------------


@dataclasses.dataclass
class GetNamespaceMetadataRequest:
    """Body of a namespace-metadata read."""

    metadata_key: str | None = None
    value: Any = None


@dataclasses.dataclass
class InsertNamespaceMetadataRequest:
    """Body of a namespace-metadata insert."""

    metadata_key: str | None = None
    value: Any = None


@dataclasses.dataclass
class UpdateNamespaceMetadataRequest:
    """Body of a namespace-metadata update (an upsert)."""

    metadata_key: str | None = None
    value: Any = None


@dataclasses.dataclass
class GetNamespaceMetadataResponse:
    """A namespace-metadata entry. ``value`` is None when the key has no value."""

    metadata_key: str | None = None
    namespace_id: int | None = None
    value: Any = None


@dataclasses.dataclass
class InsertNamespaceMetadataResponse:
    """The namespace entry as inserted."""

    metadata_key: str | None = None
    namespace_id: int | None = None
    value: Any = None


@dataclasses.dataclass
class UpdateNamespaceMetadataResponse:
    """The namespace entry as updated."""

    metadata_key: str | None = None
    namespace_id: int | None = None
    value: Any = None


# --- Namespaces ----------------------------------------------------------------------------------


@dataclasses.dataclass
class NamespaceInfo:
    """A namespace: numeric code, string id and display name."""

    code: int | None = None
    id: str | None = None
    name: str | None = None


@dataclasses.dataclass
class CreateNamespaceRequest:
    """A namespace to create. ``code`` 0 or None lets the server choose."""

    code: int | None = None
    id: str | None = None
    name: str | None = None


@dataclasses.dataclass
class CreateNamespaceResponse:
    """The server's answer to a namespace creation."""

    message: str | None = None
    namespace: NamespaceInfo | None = None
    status: str | None = None


@dataclasses.dataclass
class ListNamespacesResponse:
    """The namespaces the caller can see."""

    namespaces: list[NamespaceInfo] | None = None


@dataclasses.dataclass
class DescribeNamespacesData:
    """Free-form details of the namespaces (a JSON document as text)."""

    details: str | None = None


@dataclasses.dataclass
class DescribeNamespacesResponse:
    """The answer to a describe request."""

    data: DescribeNamespacesData | None = None


@dataclasses.dataclass
class DeleteNamespaceResponse:
    """The server's answer to a namespace deletion."""

    message: str | None = None
    status: str | None = None


# --- Auth and health -----------------------------------------------------------------------------


class GrantType(str, enum.Enum):
    """How a token is requested. Only CLIENT_CREDENTIALS is accepted by Tigris."""

    REFRESH_TOKEN = "REFRESH_TOKEN"
    CLIENT_CREDENTIALS = "CLIENT_CREDENTIALS"


@dataclasses.dataclass
class GetAccessTokenRequest:
    """Client credentials to exchange for an access token. The secret is kept out of repr."""

    client_id: str | None = None
    client_secret: str | None = dataclasses.field(default=None, repr=False)
    grant_type: GrantType = GrantType.CLIENT_CREDENTIALS
    refresh_token: str | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass
class GetAccessTokenResponse:
    """An access token (kept out of repr) and its lifetime in seconds."""

    access_token: str | None = dataclasses.field(default=None, repr=False)
    expires_in: int | None = None
    refresh_token: str | None = dataclasses.field(default=None, repr=False)
