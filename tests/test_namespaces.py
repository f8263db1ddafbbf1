"""Namespaces, namespace metadata, health and the token exchange, on `Tigris` and `AsyncTigris`.

Every scenario is written once, as async code, and runs against the local server on both clients:
the sync client is driven through `asyncio.to_thread` by a small adapter. Namespace metadata is
checked row by row against CONTRACT.md's table.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from tigris_grpc import (
    AsyncTigris,
    ConflictError,
    InternalServerError,
    NotFoundError,
    SDKError,
    Tigris,
    UnauthenticatedError,
    UnavailableError,
)
from tigris_grpc._pb import management_pb2
from tigris_grpc.models import operations, shared
from tigris_grpc.server import DEFAULT_NAMESPACE, LocalTigrisServer

pytestmark = pytest.mark.asyncio

_SUB_CLIENTS = frozenset({"user", "namespace", "auth"})
# No server listens here: a request that got as far as the network would fail UNAVAILABLE.
_NOWHERE = "unix:/nonexistent/tigris-namespaces.sock"


class _ToThread:
    """Presents a sync `Tigris` (or one of its sub-clients) with awaitable methods.

    Each method runs in a worker thread via `asyncio.to_thread`, so one async scenario drives
    both clients.
    """

    def __init__(self, target: object) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name in _SUB_CLIENTS:
            return _ToThread(value)
        if not callable(value):
            return value

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(value, *args, **kwargs)

        return call


#: ``connect(**client_options)``: a client (async, or sync behind `_ToThread`) to the local server.
Connect = Callable[..., Any]


@pytest_asyncio.fixture(params=["sync", "async"])
async def connect(request: pytest.FixtureRequest, tigris_server: LocalTigrisServer) -> AsyncIterator[Connect]:
    closers: list[Callable[[], Awaitable[None] | None]] = []

    def make(**options: Any) -> Any:
        options = {"server_url": tigris_server.url, "env": {}, **options}
        if request.param == "async":
            client = AsyncTigris(**options)
            closers.append(client.close)
            return client
        sync_client = Tigris(**options)
        closers.append(sync_client.close)
        return _ToThread(sync_client)

    yield make
    for close in closers:
        result = close()
        if result is not None:
            await result


def _as(connect: Connect, server: LocalTigrisServer, user: str, namespace: str = DEFAULT_NAMESPACE) -> Any:
    """A client signed in as ``user`` of ``namespace``."""
    return connect(bearer_auth=server.mint_token(user, namespace=namespace))


@pytest.fixture
def admin(connect: Connect, tigris_server: LocalTigrisServer) -> Any:
    return _as(connect, tigris_server, "admin")


# --- Namespaces -----------------------------------------------------------------------------------


async def test_create_namespace_flattened_and_with_a_request_object(admin: Any) -> None:
    flat = await admin.namespace.create(name="team-a")
    assert flat.status_code == 200
    assert isinstance(flat.raw_response, management_pb2.CreateNamespaceResponse)
    body = flat.create_namespace_response
    assert body.status == "CREATED"
    assert (body.namespace.id, body.namespace.name) == ("team-a", "team-a")  # the id defaults to the name
    assert body.namespace.code > 1  # 1 is default_namespace

    full = await admin.namespace.create(shared.CreateNamespaceRequest(code=42, id="team-b", name="Team B"))
    info = full.create_namespace_response.namespace
    assert (info.code, info.id, info.name) == (42, "team-b", "Team B")

    with pytest.raises(ConflictError) as again:
        await admin.namespace.create(name="team-a")
    assert again.value.status_code == 409
    with pytest.raises(ValueError, match="not both"):
        await admin.namespace.create(shared.CreateNamespaceRequest(name="x"), name="x")


async def test_list_namespaces(admin: Any) -> None:
    await admin.namespace.create(name="team-a")
    await admin.namespace.create(shared.CreateNamespaceRequest(code=42, id="team-b", name="Team B"))

    listed = (await admin.namespace.list()).list_namespaces_response.namespaces
    assert {(ns.code, ns.id, ns.name) for ns in listed} >= {
        (1, DEFAULT_NAMESPACE, DEFAULT_NAMESPACE),
        (42, "team-b", "Team B"),
    }
    assert "team-a" in {ns.id for ns in listed}

    one = (await admin.namespace.list(namespace_id="team-b")).list_namespaces_response.namespaces
    assert [(ns.code, ns.id) for ns in one] == [(42, "team-b")]
    assert (await admin.namespace.list(namespace_id="no-such-namespace")).list_namespaces_response.namespaces == []


async def test_get_describes_namespaces_as_json_text(admin: Any) -> None:
    await admin.namespace.create(name="team-a")
    await admin.namespace.update_metadata(metadata_key="plan", value="pro")

    described = await admin.namespace.get()
    assert described.status_code == 200
    details = json.loads(described.describe_namespaces_response.data.details)
    assert {entry["id"] for entry in details} >= {DEFAULT_NAMESPACE, "team-a"}

    only = json.loads((await admin.namespace.get(namespace_id="team-a")).describe_namespaces_response.data.details)
    assert [entry["id"] for entry in only] == ["team-a"]


async def test_delete_namespace_removes_it_and_its_metadata(
    connect: Connect, tigris_server: LocalTigrisServer, admin: Any
) -> None:
    await admin.namespace.create(name="doomed")
    member = _as(connect, tigris_server, "dora", namespace="doomed")
    await member.namespace.insert_metadata(metadata_key="k", value=1)

    deleted = await admin.namespace.delete("doomed")
    assert deleted.status_code == 200
    assert deleted.delete_namespace_response.status == "DELETED"
    assert "doomed" not in {ns.id for ns in (await admin.namespace.list()).list_namespaces_response.namespaces}
    with pytest.raises(NotFoundError):  # a token naming the deleted namespace
        await member.namespace.get_metadata(metadata_key="k")

    # A namespace created again under the same id starts empty.
    await admin.namespace.create(name="doomed")
    reborn = await member.namespace.get_metadata(metadata_key="k")
    assert reborn.get_namespace_metadata_response.value is None


@pytest.mark.parametrize("namespace_id", ["never-created", "doomed"])
async def test_delete_of_an_unknown_namespace_is_not_found(admin: Any, namespace_id: str) -> None:
    if namespace_id == "doomed":  # deleted already
        await admin.namespace.create(name=namespace_id)
        await admin.namespace.delete(namespace_id)
    with pytest.raises(NotFoundError) as info:
        await admin.namespace.delete(namespace_id)
    assert info.value.status_code == 404
    assert info.value.code == "NOT_FOUND"


# --- Namespace metadata: CONTRACT.md's table, row by row -----------------------------------------


async def test_insert_of_a_new_key(admin: Any) -> None:
    inserted = await admin.namespace.insert_metadata(metadata_key="plan", value={"tier": "pro", "seats": 5})
    body = inserted.insert_namespace_metadata_response
    assert (body.metadata_key, body.namespace_id, body.value) == ("plan", 1, {"tier": "pro", "seats": 5})
    assert not hasattr(body, "user_id")  # namespace metadata belongs to no user
    assert inserted.raw_response.value == b'{"tier":"pro","seats":5}'  # compact JSON on the wire


async def test_insert_of_an_existing_key_is_internal_and_keeps_the_value(admin: Any) -> None:
    await admin.namespace.insert_metadata(metadata_key="plan", value="pro")
    with pytest.raises(InternalServerError) as info:
        await admin.namespace.insert_metadata(metadata_key="plan", value="free")
    assert info.value.status_code == 500
    assert info.value.code == "INTERNAL"
    assert (await admin.namespace.get_metadata(metadata_key="plan")).get_namespace_metadata_response.value == "pro"


async def test_update_of_an_existing_key_overwrites(admin: Any) -> None:
    await admin.namespace.insert_metadata(metadata_key="plan", value="pro")
    updated = await admin.namespace.update_metadata(metadata_key="plan", value=["free", 0])
    assert updated.update_namespace_metadata_response.value == ["free", 0]
    got = await admin.namespace.get_metadata(metadata_key="plan")
    assert got.get_namespace_metadata_response.value == ["free", 0]


async def test_update_of_a_missing_key_creates_it(admin: Any) -> None:
    updated = await admin.namespace.update_metadata(metadata_key="fresh", value=True)
    body = updated.update_namespace_metadata_response
    assert (body.metadata_key, body.namespace_id, body.value) == ("fresh", 1, True)
    assert (await admin.namespace.get_metadata(metadata_key="fresh")).get_namespace_metadata_response.value is True


async def test_get_of_an_existing_key(admin: Any) -> None:
    await admin.namespace.insert_metadata(metadata_key="limits", value={"rps": 100})
    got = await admin.namespace.get_metadata(metadata_key="limits")
    body = got.get_namespace_metadata_response
    assert (body.metadata_key, body.namespace_id, body.value) == ("limits", 1, {"rps": 100})


async def test_get_of_a_missing_key_is_ok_with_value_none(admin: Any) -> None:
    got = await admin.namespace.get_metadata(metadata_key="absent")
    assert got.status_code == 200
    body = got.get_namespace_metadata_response
    assert (body.metadata_key, body.namespace_id, body.value) == ("absent", 1, None)


# (case, method, args, kwargs, what the ValueError names)
_BAD_CALLS: list[tuple[str, str, tuple[Any, ...], dict[str, Any], str]] = [
    ("empty key on get", "get_metadata", (), {"metadata_key": ""}, "metadata_key"),
    ("empty key on insert", "insert_metadata", (), {"metadata_key": "", "value": 1}, "metadata_key"),
    ("empty key on update", "update_metadata", (), {"metadata_key": "", "value": 1}, "metadata_key"),
    ("no value on insert", "insert_metadata", (), {"metadata_key": "k"}, "value"),
    ("None value on update", "update_metadata", (), {"metadata_key": "k", "value": None}, "value"),
    (
        "REST request without a value",
        "insert_metadata",
        (operations.ManagementInsertNamespaceMetadataRequest(metadata_key="k"),),
        {},
        "value",
    ),
    (
        "REST request with an empty key",
        "get_metadata",
        (
            operations.ManagementGetNamespaceMetadataRequest(
                get_namespace_metadata_request=shared.GetNamespaceMetadataRequest(), metadata_key=""
            ),
        ),
        {},
        "metadata_key",
    ),
    (
        "protobuf request with empty bytes",
        "update_metadata",
        (management_pb2.UpdateNamespaceMetadataRequest(metadataKey="k", value=b""),),
        {},
        "value",
    ),
    ("invalid timeout", "get_metadata", (), {"metadata_key": "k", "timeout": 0}, "timeout"),
]


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "names"), [c[1:] for c in _BAD_CALLS], ids=[c[0] for c in _BAD_CALLS]
)
async def test_empty_keys_and_values_are_refused_before_any_io(
    connect: Connect, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], names: str
) -> None:
    s = connect(bearer_auth="t", server_url=_NOWHERE)
    with pytest.raises(ValueError, match=names):  # not UnavailableError: nothing was sent
        await getattr(s.namespace, method)(*args, **kwargs)


@pytest.mark.parametrize("key", ["db", "namespace"])
async def test_reserved_keys_are_refused_by_the_server(admin: Any, key: str) -> None:
    # The real server keeps `db` and `namespace` for itself and, as with every storage refusal,
    # answers INTERNAL; the client passes that on as an SDKError (InternalServerError, 500).
    for method, kwargs in (
        ("insert_metadata", {"value": 1}),
        ("update_metadata", {"value": 1}),
        ("get_metadata", {}),
    ):
        with pytest.raises(SDKError) as info:
            await getattr(admin.namespace, method)(metadata_key=key, **kwargs)
        assert isinstance(info.value, InternalServerError), method
        assert info.value.status_code == 500
    # Only namespace metadata reserves them: a user may keep a key of that name.
    await admin.user.insert_metadata(metadata_key=key, value="mine")
    assert (await admin.user.get_metadata(metadata_key=key)).get_user_metadata_response.value == "mine"


async def test_namespace_metadata_is_per_namespace_and_shared_by_its_users(
    connect: Connect, tigris_server: LocalTigrisServer, admin: Any
) -> None:
    created = await admin.namespace.create(name="acme")
    acme_code = created.create_namespace_response.namespace.code
    alice = _as(connect, tigris_server, "alice")  # default_namespace
    bob = _as(connect, tigris_server, "bob", namespace="acme")
    carol = _as(connect, tigris_server, "carol", namespace="acme")

    await alice.namespace.update_metadata(metadata_key="theme", value="light")
    await bob.namespace.update_metadata(metadata_key="theme", value="dark")

    seen = {
        name: (await client.namespace.get_metadata(metadata_key="theme")).get_namespace_metadata_response
        for name, client in (("alice", alice), ("bob", bob), ("carol", carol), ("admin", admin))
    }
    assert {name: (body.value, body.namespace_id) for name, body in seen.items()} == {
        "alice": ("light", 1),
        "admin": ("light", 1),
        "bob": ("dark", acme_code),
        "carol": ("dark", acme_code),  # another user of the same namespace sees bob's write
    }


async def test_rest_request_and_response_models(admin: Any) -> None:
    inserted = await admin.namespace.insert_metadata(
        operations.ManagementInsertNamespaceMetadataRequest(
            insert_namespace_metadata_request=shared.InsertNamespaceMetadataRequest(value={"a": 1}),
            metadata_key="cfg",
        )
    )
    assert isinstance(inserted, operations.ManagementInsertNamespaceMetadataResponse)
    assert isinstance(inserted.insert_namespace_metadata_response, shared.InsertNamespaceMetadataResponse)

    updated = await admin.namespace.update_metadata(
        operations.ManagementUpdateNamespaceMetadataRequest(
            update_namespace_metadata_request=shared.UpdateNamespaceMetadataRequest(value={"a": 2}),
            metadata_key="cfg",
        )
    )
    assert isinstance(updated, operations.ManagementUpdateNamespaceMetadataResponse)
    assert isinstance(updated.update_namespace_metadata_response, shared.UpdateNamespaceMetadataResponse)
    assert updated.update_namespace_metadata_response.value == {"a": 2}

    got = await admin.namespace.get_metadata(
        operations.ManagementGetNamespaceMetadataRequest(
            get_namespace_metadata_request=shared.GetNamespaceMetadataRequest(),
            metadata_key="cfg",
        )
    )
    assert isinstance(got, operations.ManagementGetNamespaceMetadataResponse)
    assert (got.status_code, got.content_type, got.status) == (200, "application/grpc", None)
    body = got.get_namespace_metadata_response
    assert isinstance(body, shared.GetNamespaceMetadataResponse)
    assert (body.metadata_key, body.namespace_id, body.value) == ("cfg", 1, {"a": 2})
    assert isinstance(got.raw_response, management_pb2.GetNamespaceMetadataResponse)


# --- Health ---------------------------------------------------------------------------------------


async def test_health_is_true_and_needs_no_token(connect: Connect, admin: Any) -> None:
    assert await admin.health() is True
    assert await connect().health() is True  # a readiness probe has no credentials


async def test_health_of_an_unreachable_server_raises_sdk_error(connect: Connect) -> None:
    with pytest.raises(UnavailableError) as info:
        await connect(server_url=_NOWHERE, retry=None, timeout=5).health()
    assert isinstance(info.value, SDKError)
    assert info.value.status_code == 503


# --- The token exchange ---------------------------------------------------------------------------


async def _signed_in_user(connect: Connect, token: str) -> str:
    """Who the server takes ``token`` for: the user id it stores metadata under."""
    answer = await connect(bearer_auth=token).user.update_metadata(metadata_key="whoami", value=1)
    user_id: str = answer.update_user_metadata_response.user_id
    return user_id


async def test_get_access_token_with_the_clients_own_credentials(
    connect: Connect, tigris_server: LocalTigrisServer
) -> None:
    s = connect(client_id=tigris_server.client_id, client_secret=tigris_server.client_secret)
    answer = await s.auth.get_access_token()
    body = answer.get_access_token_response
    assert body.expires_in == tigris_server.config.token_ttl
    assert body.access_token
    assert body.access_token not in repr(answer)  # tokens stay out of reprs
    assert await _signed_in_user(connect, body.access_token) == tigris_server.client_id


async def test_get_access_token_with_explicit_credentials(connect: Connect, tigris_server: LocalTigrisServer) -> None:
    s = connect()  # no credentials of its own
    flat = await s.auth.get_access_token(client_id=tigris_server.client_id, client_secret=tigris_server.client_secret)
    model = await s.auth.get_access_token(
        shared.GetAccessTokenRequest(client_id=tigris_server.client_id, client_secret=tigris_server.client_secret)
    )
    for answer in (flat, model):
        token = answer.get_access_token_response.access_token
        assert await _signed_in_user(connect, token) == tigris_server.client_id
        assert await connect(bearer_auth=f"Bearer {token}").health() is True


async def test_get_access_token_refusals(connect: Connect, tigris_server: LocalTigrisServer) -> None:
    s = connect()
    with pytest.raises(ValueError, match="client_id"):
        await s.auth.get_access_token()  # nothing to exchange
    with pytest.raises(ValueError, match="CLIENT_CREDENTIALS"):
        await s.auth.get_access_token(
            shared.GetAccessTokenRequest(grant_type=shared.GrantType.REFRESH_TOKEN, refresh_token="r")
        )
    with pytest.raises(UnauthenticatedError) as info:
        await s.auth.get_access_token(client_id=tigris_server.client_id, client_secret="wrong")
    assert info.value.status_code == 401
