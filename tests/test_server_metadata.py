"""User and namespace metadata on the local server: every row of CONTRACT.md's semantics table,
the size limits, reserved keys and isolation, over the wire with the raw generated stubs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from _server_helpers import Raw, assert_error, bearer, call_error

from tigris_grpc._limits import MAX_KEY_BYTES, MAX_MESSAGE_BYTES, MAX_VALUE_BYTES
from tigris_grpc._pb import management_pb2
from tigris_grpc.server import LocalTigrisServer

INTERNAL = grpc.StatusCode.INTERNAL


class Metadata:
    """Insert/get/update of one scope ("user" or "namespace") as one caller."""

    def __init__(self, raw: Raw, scope: str, token: str) -> None:
        self.scope = scope
        self._md = bearer(token)
        stub = raw.management
        # Both scopes share the same call shape; Any lets one attribute hold either stub.
        self._insert: Any
        self._get: Any
        self._update: Any
        self._types: tuple[Any, Any, Any]
        if scope == "user":
            self._insert = stub.InsertUserMetadata
            self._get = stub.GetUserMetadata
            self._update = stub.UpdateUserMetadata
            self._types = (
                management_pb2.InsertUserMetadataRequest,
                management_pb2.GetUserMetadataRequest,
                management_pb2.UpdateUserMetadataRequest,
            )
        else:
            self._insert = stub.InsertNamespaceMetadata
            self._get = stub.GetNamespaceMetadata
            self._update = stub.UpdateNamespaceMetadata
            self._types = (
                management_pb2.InsertNamespaceMetadataRequest,
                management_pb2.GetNamespaceMetadataRequest,
                management_pb2.UpdateNamespaceMetadataRequest,
            )

    def insert(self, key: str, value: bytes) -> Any:
        return self._insert(self._types[0](metadataKey=key, value=value), metadata=self._md)

    def get(self, key: str) -> Any:
        return self._get(self._types[1](metadataKey=key), metadata=self._md)

    def update(self, key: str, value: bytes) -> Any:
        return self._update(self._types[2](metadataKey=key, value=value), metadata=self._md)

    def failure(self, verb: str) -> str:
        """The real server's message when a ``verb`` ("insert", "read", "update") fails."""
        return f"Failed to {verb} {self.scope} metadata."


@pytest.fixture
def raw(tigris_server: LocalTigrisServer) -> Iterator[Raw]:
    with Raw(tigris_server.url) as raw:
        yield raw


@pytest.fixture(params=["user", "namespace"])
def meta(request: pytest.FixtureRequest, raw: Raw, tigris_server: LocalTigrisServer) -> Metadata:
    return Metadata(raw, request.param, tigris_server.mint_token("alice"))


def _check_echo(meta: Metadata, response: Any, key: str, value: bytes) -> None:
    assert response.metadataKey == key
    assert response.namespaceId == 1  # default_namespace
    assert response.value == value
    if meta.scope == "user":
        assert response.userId == "alice"  # the token's sub
    else:
        assert "userId" not in type(response).DESCRIPTOR.fields_by_name


# --- the semantics table -------------------------------------------------------------------------


def test_insert_new_key_echoes_key_user_namespace_and_value(meta: Metadata) -> None:
    _check_echo(meta, meta.insert("theme", b'{"dark": true}'), "theme", b'{"dark": true}')
    _check_echo(meta, meta.get("theme"), "theme", b'{"dark": true}')


def test_insert_existing_key_is_internal_and_keeps_the_value(meta: Metadata) -> None:
    meta.insert("theme", b'"old"')
    assert_error(lambda: meta.insert("theme", b'"new"'), INTERNAL, meta.failure("insert"))
    assert meta.get("theme").value == b'"old"'


def test_update_existing_key_overwrites(meta: Metadata) -> None:
    meta.insert("theme", b'"old"')
    _check_echo(meta, meta.update("theme", b'"new"'), "theme", b'"new"')
    assert meta.get("theme").value == b'"new"'


def test_update_missing_key_creates_it(meta: Metadata) -> None:
    _check_echo(meta, meta.update("fresh", b"1"), "fresh", b"1")
    assert meta.get("fresh").value == b"1"
    # ... so a later insert of the same key fails like any existing key.
    assert_error(lambda: meta.insert("fresh", b"2"), INTERNAL, meta.failure("insert"))


def test_get_missing_key_is_ok_with_empty_value_and_ids_set(meta: Metadata) -> None:
    _check_echo(meta, meta.get("never-set"), "never-set", b"")


@pytest.mark.parametrize("verb", ["insert", "update", "read"])
def test_empty_key_is_internal(meta: Metadata, verb: str) -> None:
    calls = {
        "insert": lambda: meta.insert("", b"1"),
        "update": lambda: meta.update("", b"1"),
        "read": lambda: meta.get(""),
    }
    assert_error(calls[verb], INTERNAL, meta.failure(verb))


@pytest.mark.parametrize("verb", ["insert", "update"])
def test_empty_value_is_internal_and_stores_nothing(meta: Metadata, verb: str) -> None:
    write = meta.insert if verb == "insert" else meta.update
    assert_error(lambda: write("k", b""), INTERNAL, meta.failure(verb))
    assert meta.get("k").value == b""
    meta.insert("k", b"1")  # the key was not taken by the failed write


def test_no_token_is_unauthenticated(raw: Raw) -> None:
    assert_error(
        lambda: raw.management.GetUserMetadata(management_pb2.GetUserMetadataRequest(metadataKey="k")),
        grpc.StatusCode.UNAUTHENTICATED,
    )


# --- limits --------------------------------------------------------------------------------------


def test_key_at_the_limit_is_stored_and_one_byte_more_is_internal(meta: Metadata) -> None:
    key = "k" * MAX_KEY_BYTES
    meta.insert(key, b"1")
    assert meta.get(key).value == b"1"
    assert_error(lambda: meta.insert(key + "k", b"1"), INTERNAL, meta.failure("insert"))
    assert_error(lambda: meta.update(key + "k", b"1"), INTERNAL, meta.failure("update"))
    assert_error(lambda: meta.get(key + "k"), INTERNAL, meta.failure("read"))


def test_key_limit_counts_utf8_bytes_not_characters(meta: Metadata) -> None:
    key = "é" * (MAX_KEY_BYTES // 2 + 1)  # fewer characters than the limit, more bytes
    assert len(key) < MAX_KEY_BYTES
    assert_error(lambda: meta.insert(key, b"1"), INTERNAL, meta.failure("insert"))


def test_value_at_the_limit_is_stored_and_one_byte_more_is_internal(meta: Metadata) -> None:
    value = b"x" * MAX_VALUE_BYTES
    meta.insert("big", value)
    assert meta.get("big").value == value
    assert_error(lambda: meta.insert("bigger", value + b"x"), INTERNAL, meta.failure("insert"))
    assert_error(lambda: meta.update("big", value + b"x"), INTERNAL, meta.failure("update"))
    assert meta.get("big").value == value
    assert meta.get("bigger").value == b""


def test_message_over_16_mib_is_refused_by_grpc(raw: Raw, tigris_server: LocalTigrisServer) -> None:
    meta = Metadata(raw, "user", tigris_server.mint_token("alice"))
    error = call_error(lambda: meta.insert("huge", b"x" * (MAX_MESSAGE_BYTES + 1)))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert meta.get("huge").value == b""


# --- reserved keys -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["db", "namespace"])
def test_reserved_namespace_keys_are_internal(raw: Raw, tigris_server: LocalTigrisServer, key: str) -> None:
    token = tigris_server.mint_token("alice")
    namespace = Metadata(raw, "namespace", token)
    assert_error(lambda: namespace.insert(key, b"1"), INTERNAL, namespace.failure("insert"))
    assert_error(lambda: namespace.update(key, b"1"), INTERNAL, namespace.failure("update"))
    assert_error(lambda: namespace.get(key), INTERNAL, namespace.failure("read"))
    # Reserved for namespace metadata only: a user may have such keys.
    user = Metadata(raw, "user", token)
    user.insert(key, b"1")
    assert user.get(key).value == b"1"


# --- isolation -----------------------------------------------------------------------------------


def test_two_users_with_the_same_key_see_their_own_values(raw: Raw, tigris_server: LocalTigrisServer) -> None:
    alice = Metadata(raw, "user", tigris_server.mint_token("alice"))
    bob = Metadata(raw, "user", tigris_server.mint_token("bob"))
    alice.insert("theme", b'"dark"')
    assert bob.get("theme").value == b""
    bob.insert("theme", b'"light"')  # no conflict with alice's key
    assert alice.get("theme").value == b'"dark"'
    assert bob.get("theme").value == b'"light"'
    assert bob.get("theme").userId == "bob"


def _create_namespace(raw: Raw, token: str, name: str) -> int:
    response = raw.management.CreateNamespace(management_pb2.CreateNamespaceRequest(name=name), metadata=bearer(token))
    code: int = response.namespace.code
    return code


def test_same_user_in_two_namespaces_sees_two_stores(raw: Raw, tigris_server: LocalTigrisServer) -> None:
    code = _create_namespace(raw, tigris_server.mint_token("admin"), "tenant-b")
    assert code == 2
    for scope in ("user", "namespace"):
        in_default = Metadata(raw, scope, tigris_server.mint_token("alice"))
        in_b = Metadata(raw, scope, tigris_server.mint_token("alice", namespace="tenant-b"))
        in_default.insert("plan", b'"free"')
        assert in_b.get("plan").value == b""
        response = in_b.insert("plan", b'"pro"')
        assert response.namespaceId == code
        assert in_default.get("plan").value == b'"free"'
        assert in_default.get("plan").namespaceId == 1
        assert in_b.get("plan").value == b'"pro"'


def test_namespace_metadata_is_shared_by_users_and_separate_from_user_metadata(
    raw: Raw, tigris_server: LocalTigrisServer
) -> None:
    alice_ns = Metadata(raw, "namespace", tigris_server.mint_token("alice"))
    bob_ns = Metadata(raw, "namespace", tigris_server.mint_token("bob"))
    alice_user = Metadata(raw, "user", tigris_server.mint_token("alice"))
    alice_ns.insert("motd", b'"hello"')
    assert bob_ns.get("motd").value == b'"hello"'
    assert alice_user.get("motd").value == b""


def test_concurrent_inserts_of_one_key_let_exactly_one_win(raw: Raw, tigris_server: LocalTigrisServer) -> None:
    meta = Metadata(raw, "user", tigris_server.mint_token("alice"))
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def insert(i: int) -> None:
        barrier.wait()
        try:
            meta.insert("race", str(i).encode())
            outcomes.append("ok")
        except grpc.RpcError as exc:
            outcomes.append(exc.code().name if isinstance(exc, grpc.Call) else repr(exc))

    threads = [threading.Thread(target=insert, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(outcomes) == ["INTERNAL"] * 7 + ["ok"]
    assert meta.get("race").value in {str(i).encode() for i in range(8)}
