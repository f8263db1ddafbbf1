"""Namespaces on the local server: create, list, describe, delete, and what a token for a
namespace sees, over the wire with the raw generated stubs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from _server_helpers import Raw, assert_error, bearer

from tigris_grpc._pb import management_pb2
from tigris_grpc.server import LocalTigrisServer


class Admin:
    """Namespace RPCs as one authenticated caller."""

    def __init__(self, raw: Raw, token: str) -> None:
        self.stub = raw.management
        self.md = bearer(token)

    def create(self, name: str = "", id: str = "", code: int = 0) -> Any:
        request = management_pb2.CreateNamespaceRequest(name=name, id=id, code=code)
        return self.stub.CreateNamespace(request, metadata=self.md)

    def list(self, namespace_id: str = "", describe: bool | None = None) -> Any:
        request = management_pb2.ListNamespacesRequest(namespace_id=namespace_id)
        if describe is not None:
            request.describe = describe
        return self.stub.ListNamespaces(request, metadata=self.md)

    def delete(self, namespace_id: str) -> Any:
        request = management_pb2.DeleteNamespaceRequest(namespace_id=namespace_id)
        return self.stub.DeleteNamespace(request, metadata=self.md)


@pytest.fixture
def raw(tigris_server: LocalTigrisServer) -> Iterator[Raw]:
    with Raw(tigris_server.url) as raw:
        yield raw


@pytest.fixture
def admin(raw: Raw, tigris_server: LocalTigrisServer) -> Admin:
    return Admin(raw, tigris_server.mint_token("admin"))


def _listed(response: Any) -> list[tuple[int, str, str]]:
    return [(ns.code, ns.id, ns.name) for ns in response.namespaces]


def test_default_namespace_always_exists_with_code_1(admin: Admin) -> None:
    response = admin.list()
    assert _listed(response) == [(1, "default_namespace", "default_namespace")]
    assert not response.HasField("data")


def test_create_assigns_the_next_free_code_and_defaults_the_id_to_the_name(admin: Admin) -> None:
    response = admin.create(name="ns2")
    assert response.message == "Namespace created, with code=2, and id=ns2"
    assert response.status == "CREATED"
    assert (response.namespace.code, response.namespace.id, response.namespace.name) == (
        2,
        "ns2",
        "ns2",
    )
    assert admin.create(name="Third", id="t3").message == "Namespace created, with code=3, and id=t3"
    assert admin.create(name="Chosen", code=42).namespace.code == 42
    assert admin.create(name="After").namespace.code == 43
    assert _listed(admin.list()) == [
        (1, "default_namespace", "default_namespace"),
        (2, "ns2", "ns2"),
        (3, "t3", "Third"),
        (42, "Chosen", "Chosen"),
        (43, "After", "After"),
    ]


@pytest.mark.parametrize(
    "duplicate",
    [
        pytest.param({"name": "taken"}, id="same-name"),
        pytest.param({"name": "other", "id": "taken-id"}, id="same-id"),
        pytest.param({"name": "other", "code": 7}, id="same-code"),
        pytest.param({"name": "default_namespace"}, id="default-name"),
        pytest.param({"name": "other", "code": 1}, id="default-code"),
    ],
)
def test_duplicates_are_already_exists(admin: Admin, duplicate: dict[str, Any]) -> None:
    admin.create(name="taken", id="taken-id", code=7)
    assert_error(lambda: admin.create(**duplicate), grpc.StatusCode.ALREADY_EXISTS)
    assert len(admin.list().namespaces) == 2


def test_create_needs_a_name_and_an_int32_code(admin: Admin) -> None:
    assert_error(
        lambda: admin.create(id="x"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "Empty namespace name is not allowed",
    )
    assert_error(lambda: admin.create(name="big", code=2**31), grpc.StatusCode.INVALID_ARGUMENT)
    assert admin.create(name="max", code=2**31 - 1).namespace.code == 2**31 - 1
    assert [ns.id for ns in admin.list().namespaces] == ["default_namespace", "max"]


def test_list_filters_by_namespace_id(admin: Admin) -> None:
    admin.create(name="Alpha", id="a")
    admin.create(name="Beta", id="b")
    assert _listed(admin.list(namespace_id="b")) == [(3, "b", "Beta")]
    assert _listed(admin.list(namespace_id="Beta")) == []  # by id, not name
    assert _listed(admin.list(namespace_id="missing")) == []


def test_describe_fills_data_details_with_json(admin: Admin, raw: Raw, tigris_server: LocalTigrisServer) -> None:
    admin.create(name="ns2")
    for user in ("alice", "bob"):
        raw.management.InsertUserMetadata(
            management_pb2.InsertUserMetadataRequest(metadataKey="k", value=b"1"),
            metadata=bearer(tigris_server.mint_token(user, namespace="ns2")),
        )
    raw.management.InsertNamespaceMetadata(
        management_pb2.InsertNamespaceMetadataRequest(metadataKey="k", value=b"1"),
        metadata=bearer(tigris_server.mint_token("alice", namespace="ns2")),
    )
    response = admin.list(describe=True)
    assert response.HasField("data")
    details = json.loads(response.data.details)
    assert details == [
        {
            "code": 1,
            "id": "default_namespace",
            "name": "default_namespace",
            "users": 0,
            "user_metadata_keys": 0,
            "namespace_metadata_keys": 0,
        },
        {
            "code": 2,
            "id": "ns2",
            "name": "ns2",
            "users": 2,
            "user_metadata_keys": 2,
            "namespace_metadata_keys": 1,
        },
    ]
    assert [d["id"] for d in json.loads(admin.list("ns2", describe=True).data.details)] == ["ns2"]
    assert not admin.list(describe=False).HasField("data")


def test_delete_answers_deleted_and_removes_the_namespace(admin: Admin) -> None:
    admin.create(name="gone")
    response = admin.delete("gone")
    assert (response.message, response.status) == ("Namespace deleted", "DELETED")
    assert [ns.id for ns in admin.list().namespaces] == ["default_namespace"]
    assert_error(lambda: admin.delete("gone"), grpc.StatusCode.NOT_FOUND, "namespace 'gone' not found")


def test_delete_refuses_default_namespace_and_empty_ids(admin: Admin) -> None:
    assert_error(lambda: admin.delete("default_namespace"), grpc.StatusCode.FAILED_PRECONDITION)
    assert_error(lambda: admin.delete(""), grpc.StatusCode.INVALID_ARGUMENT)
    assert [ns.id for ns in admin.list().namespaces] == ["default_namespace"]


def test_delete_removes_the_namespaces_metadata(admin: Admin, raw: Raw, tigris_server: LocalTigrisServer) -> None:
    admin.create(name="tenant")
    md = bearer(tigris_server.mint_token("alice", namespace="tenant"))
    stub = raw.management
    stub.InsertUserMetadata(management_pb2.InsertUserMetadataRequest(metadataKey="k", value=b"1"), metadata=md)
    stub.InsertNamespaceMetadata(
        management_pb2.InsertNamespaceMetadataRequest(metadataKey="k", value=b"1"), metadata=md
    )
    admin.delete("tenant")
    # Tokens for a deleted namespace are answered NOT_FOUND (documented choice).
    assert_error(
        lambda: stub.GetUserMetadata(management_pb2.GetUserMetadataRequest(metadataKey="k"), metadata=md),
        grpc.StatusCode.NOT_FOUND,
    )
    # Recreated under the same id (and, here, the same code), it starts empty.
    assert admin.create(name="tenant").namespace.code == 2
    user = stub.GetUserMetadata(management_pb2.GetUserMetadataRequest(metadataKey="k"), metadata=md)
    assert (user.value, user.namespaceId) == (b"", 2)
    shared = stub.GetNamespaceMetadata(management_pb2.GetNamespaceMetadataRequest(metadataKey="k"), metadata=md)
    assert shared.value == b""
