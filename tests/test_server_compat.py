"""An independent client, built from Tigris's own published definitions rather than our
generated modules, gets a token from the local server and the real server's answers.

The message classes come from FileDescriptorProtos registered under upstream's file names
(``server/v1/management.proto``, ...) in a private DescriptorPool, so nothing of
``tigris_grpc._proto`` is involved: if our protos drifted from upstream's, this would fail.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.rpc import error_details_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status  # type: ignore[import-untyped]

from tigris_grpc.server import LocalTigrisServer

F = descriptor_pb2.FieldDescriptorProto
STRING, BYTES, UINT32, INT32, ENUM = (
    F.TYPE_STRING,
    F.TYPE_BYTES,
    F.TYPE_UINT32,
    F.TYPE_INT32,
    F.TYPE_ENUM,
)

# Upstream's messages (api/proto/server/v1/{management,auth}.proto): name -> fields.
MANAGEMENT = {
    "GetUserMetadataRequest": [("metadataKey", 1, STRING)],
    "GetUserMetadataResponse": [
        ("metadataKey", 1, STRING),
        ("userId", 2, STRING),
        ("namespaceId", 3, UINT32),
        ("value", 4, BYTES),
    ],
    "InsertUserMetadataRequest": [("metadataKey", 1, STRING), ("value", 2, BYTES)],
    "InsertUserMetadataResponse": [
        ("metadataKey", 1, STRING),
        ("userId", 2, STRING),
        ("namespaceId", 3, UINT32),
        ("value", 4, BYTES),
    ],
    "UpdateUserMetadataRequest": [("metadataKey", 1, STRING), ("value", 2, BYTES)],
    "UpdateUserMetadataResponse": [
        ("metadataKey", 1, STRING),
        ("userId", 2, STRING),
        ("namespaceId", 3, UINT32),
        ("value", 4, BYTES),
    ],
}
AUTH = {
    "GetAccessTokenRequest": [
        ("grant_type", 1, ENUM),
        ("refresh_token", 2, STRING),
        ("client_id", 3, STRING),
        ("client_secret", 4, STRING),
    ],
    "GetAccessTokenResponse": [
        ("access_token", 1, STRING),
        ("refresh_token", 2, STRING),
        ("expires_in", 3, INT32),
    ],
}


def _file(name: str, package: str, messages: dict[str, list[tuple[str, int, Any]]]) -> Any:
    proto = descriptor_pb2.FileDescriptorProto(name=name, package=package, syntax="proto3")
    if package == "tigrisdata.auth.v1":
        grant = proto.enum_type.add(name="GrantType")
        grant.value.add(name="REFRESH_TOKEN", number=0)
        grant.value.add(name="CLIENT_CREDENTIALS", number=1)
    for message_name, fields in messages.items():
        message = proto.message_type.add(name=message_name)
        for field_name, number, kind in fields:
            field = message.field.add(name=field_name, number=number, type=kind, label=F.LABEL_OPTIONAL)
            if kind == ENUM:
                field.type_name = f".{package}.GrantType"
    return proto


class Upstream:
    """Message classes from the upstream-named descriptors, in a private pool."""

    def __init__(self) -> None:
        self.pool = descriptor_pool.DescriptorPool()
        self.pool.Add(_file("server/v1/management.proto", "tigrisdata.management.v1", MANAGEMENT))
        self.pool.Add(_file("server/v1/auth.proto", "tigrisdata.auth.v1", AUTH))

    def cls(self, full_name: str) -> Any:
        return message_factory.GetMessageClass(self.pool.FindMessageTypeByName(full_name))


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture
def channel(tigris_server: LocalTigrisServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(tigris_server.url) as channel:
        yield channel


def _rpc(channel: grpc.Channel, upstream: Upstream, service: str, method: str) -> Any:
    package = service.rsplit(".", 1)[0]
    return channel.unary_unary(
        f"/{service}/{method}",
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=upstream.cls(f"{package}.{method}Response").FromString,
    )


def test_independent_client_gets_a_token_and_the_real_servers_answers(
    upstream: Upstream, channel: grpc.Channel, tigris_server: LocalTigrisServer
) -> None:
    assert upstream.pool.FindFileByName("server/v1/management.proto").package == ("tigrisdata.management.v1")
    management = "tigrisdata.management.v1.Management"

    def request(name: str, **fields: Any) -> Any:
        return upstream.cls(f"tigrisdata.management.v1.{name}")(**fields)

    # The contract's wire example, built with upstream's definition.
    example = request("InsertUserMetadataRequest", metadataKey="k", value=b"{}")
    assert example.SerializeToString().hex() == "0a016b12027b7d"

    grant = upstream.cls("tigrisdata.auth.v1.GetAccessTokenRequest")(
        grant_type=1,  # CLIENT_CREDENTIALS
        client_id=tigris_server.client_id,
        client_secret=tigris_server.client_secret,
    )
    token_response = _rpc(channel, upstream, "tigrisdata.auth.v1.Auth", "GetAccessToken")(grant)
    assert token_response.expires_in == 86400
    payload = token_response.access_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == tigris_server.client_id
    assert claims["https://tigris"]["nc"] == "default_namespace"
    md = (("authorization", f"Bearer {token_response.access_token}"),)

    insert = _rpc(channel, upstream, management, "InsertUserMetadata")
    get = _rpc(channel, upstream, management, "GetUserMetadata")
    update = _rpc(channel, upstream, management, "UpdateUserMetadata")

    inserted = insert(request("InsertUserMetadataRequest", metadataKey="theme", value=b'"dark"'), metadata=md)
    assert (inserted.metadataKey, inserted.userId, inserted.namespaceId, inserted.value) == (
        "theme",
        tigris_server.client_id,
        1,
        b'"dark"',
    )
    got = get(request("GetUserMetadataRequest", metadataKey="theme"), metadata=md)
    assert (got.metadataKey, got.userId, got.namespaceId, got.value) == (
        "theme",
        tigris_server.client_id,
        1,
        b'"dark"',
    )
    updated = update(request("UpdateUserMetadataRequest", metadataKey="theme", value=b'"light"'), metadata=md)
    assert updated.value == b'"light"'
    assert get(request("GetUserMetadataRequest", metadataKey="theme"), metadata=md).value == (b'"light"')
    missing = get(request("GetUserMetadataRequest", metadataKey="nope"), metadata=md)
    assert (missing.metadataKey, missing.userId, missing.namespaceId, missing.value) == (
        "nope",
        tigris_server.client_id,
        1,
        b"",
    )
    upserted = update(request("UpdateUserMetadataRequest", metadataKey="new", value=b"1"), metadata=md)
    assert upserted.value == b"1"

    with pytest.raises(grpc.RpcError) as info:
        insert(request("InsertUserMetadataRequest", metadataKey="theme", value=b"1"), metadata=md)
    error = info.value
    assert isinstance(error, grpc.Call)
    assert error.code() == grpc.StatusCode.INTERNAL
    assert error.details() == "Failed to insert user metadata."
    status = rpc_status.from_call(error)
    info_detail = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info_detail)
    assert info_detail.reason == "INTERNAL"

    with pytest.raises(grpc.RpcError) as info:
        get(request("GetUserMetadataRequest", metadataKey="theme"))  # no token
    error = info.value
    assert isinstance(error, grpc.Call)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
