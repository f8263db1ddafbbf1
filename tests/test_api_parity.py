"""The public surface cannot drift: every RPC has a method, sync and async agree, exports are pinned.

The drift test walks the generated service descriptors, so an RPC added to a ``.proto`` without a
client method fails here, and each mapped method is called against a recording server to prove it
really sends that RPC. The parity tests compare `Tigris` and `AsyncTigris` (and their sub-clients)
name by name and signature by signature.
"""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import ServiceDescriptor

import tigris_grpc
from tigris_grpc import AsyncTigris, SDKError, Tigris
from tigris_grpc._pb import auth_pb2, health_pb2, management_pb2

# The generated services the clients must cover, in full.
SERVICES: tuple[ServiceDescriptor, ...] = (
    management_pb2.DESCRIPTOR.services_by_name["Management"],
    auth_pb2.DESCRIPTOR.services_by_name["Auth"],
    health_pb2.DESCRIPTOR.services_by_name["HealthAPI"],
)

# RPC (``Service/Method``, as in the gRPC path) -> the client methods that send it, as
# (sub-client attribute, method name); "" is the client itself. ListNamespaces backs two methods.
RPC_METHODS: dict[str, tuple[tuple[str, str], ...]] = {
    "tigrisdata.management.v1.Management/CreateNamespace": (("namespace", "create"),),
    "tigrisdata.management.v1.Management/ListNamespaces": (("namespace", "list"), ("namespace", "get")),
    "tigrisdata.management.v1.Management/DeleteNamespace": (("namespace", "delete"),),
    "tigrisdata.management.v1.Management/InsertUserMetadata": (("user", "insert_metadata"),),
    "tigrisdata.management.v1.Management/GetUserMetadata": (("user", "get_metadata"),),
    "tigrisdata.management.v1.Management/UpdateUserMetadata": (("user", "update_metadata"),),
    "tigrisdata.management.v1.Management/InsertNamespaceMetadata": (("namespace", "insert_metadata"),),
    "tigrisdata.management.v1.Management/GetNamespaceMetadata": (("namespace", "get_metadata"),),
    "tigrisdata.management.v1.Management/UpdateNamespaceMetadata": (("namespace", "update_metadata"),),
    "tigrisdata.auth.v1.Auth/GetAccessToken": (("auth", "get_access_token"),),
    "HealthAPI/Health": (("", "health"),),
}

# The smallest valid arguments for each method, so the recording server sees a real call.
CALL_ARGS: dict[tuple[str, str], tuple[tuple[Any, ...], dict[str, Any]]] = {
    ("namespace", "create"): ((), {"name": "team"}),
    ("namespace", "list"): ((), {}),
    ("namespace", "get"): ((), {}),
    ("namespace", "delete"): (("team",), {}),
    ("user", "insert_metadata"): ((), {"metadata_key": "k", "value": 1}),
    ("user", "get_metadata"): ((), {"metadata_key": "k"}),
    ("user", "update_metadata"): ((), {"metadata_key": "k", "value": 1}),
    ("namespace", "insert_metadata"): ((), {"metadata_key": "k", "value": 1}),
    ("namespace", "get_metadata"): ((), {"metadata_key": "k"}),
    ("namespace", "update_metadata"): ((), {"metadata_key": "k", "value": 1}),
    ("auth", "get_access_token"): ((), {"client_id": "id", "client_secret": "secret"}),
    ("", "health"): ((), {}),
}

MAPPED = sorted({entry for entries in RPC_METHODS.values() for entry in entries})
SUB_CLIENTS = ("user", "namespace", "auth")

EXPECTED_ALL = [
    "AsyncBearerAuthInterceptor",
    "AsyncTigris",
    "BadGatewayError",
    "BadRequestError",
    "BearerAuthInterceptor",
    "ConflictError",
    "ContentTooLargeError",
    "DeadlineExceededError",
    "InternalServerError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "RequestCancelledError",
    "RetryPolicy",
    "SDKError",
    "Tigris",
    "TooManyRequestsError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "__version__",
    "models",
]

# No server listens here, and no client below connects before its first call.
_NOWHERE = "unix:/nonexistent/tigris-parity.sock"


def _offline_clients() -> tuple[Tigris, AsyncTigris]:
    return (
        Tigris(bearer_auth="t", server_url=_NOWHERE, env={}),
        AsyncTigris(bearer_auth="t", server_url=_NOWHERE, env={}),
    )


def _method(client: object, entry: tuple[str, str]) -> Any:
    attribute, name = entry
    owner = getattr(client, attribute) if attribute else client
    return getattr(owner, name, None)


# --- (a) Drift: every RPC has a client method --------------------------------------------------


def test_every_generated_rpc_has_an_entry_and_no_entry_is_stale() -> None:
    rpcs = {f"{service.full_name}/{method.name}" for service in SERVICES for method in service.methods}
    assert rpcs - RPC_METHODS.keys() == set(), "RPCs without a client method: add them to the clients"
    assert RPC_METHODS.keys() - rpcs == set(), "entries for RPCs the protos no longer have"
    assert set(CALL_ARGS) == set(MAPPED)


@pytest.mark.parametrize("entry", MAPPED, ids=lambda e: f"{e[0] or 'client'}.{e[1]}")
def test_every_mapped_method_exists_on_both_clients(entry: tuple[str, str]) -> None:
    sync_client, async_client = _offline_clients()
    try:
        sync_method, async_method = _method(sync_client, entry), _method(async_client, entry)
        assert callable(sync_method), f"Tigris lacks {entry}"
        assert callable(async_method), f"AsyncTigris lacks {entry}"
        assert not inspect.iscoroutinefunction(sync_method)
        assert inspect.iscoroutinefunction(async_method)
    finally:
        sync_client.close()


class _Recorder(grpc.GenericRpcHandler):
    """Answers every unary call with FAILED_PRECONDITION after noting its path and auth header."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[bytes, bytes] | None:
        path = handler_call_details.method
        auth = dict(handler_call_details.invocation_metadata).get("authorization")

        def handle(_request: bytes, context: grpc.ServicerContext) -> bytes:
            with self._lock:
                self.calls.append((path, auth if isinstance(auth, str) else None))
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "recorded")

        return grpc.unary_unary_rpc_method_handler(handle)

    def take(self) -> list[tuple[str, str | None]]:
        with self._lock:
            calls, self.calls = self.calls, []
        return calls


@pytest.fixture(scope="module")
def recorder() -> Iterator[tuple[_Recorder, str]]:
    handler = _Recorder()
    server = grpc.server(ThreadPoolExecutor(max_workers=4), handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield handler, f"127.0.0.1:{port}"
    finally:
        server.stop(None).wait()


_ENTRIES = [(rpc, entry) for rpc, entries in RPC_METHODS.items() for entry in entries]
_IDS = [f"{entry[0] or 'client'}.{entry[1]}" for _, entry in _ENTRIES]


def _expected_auth(rpc: str) -> str | None:
    # GetAccessToken and Health need no token; everything else carries the client's.
    return None if rpc in ("tigrisdata.auth.v1.Auth/GetAccessToken", "HealthAPI/Health") else "Bearer t"


@pytest.mark.parametrize(("rpc", "entry"), _ENTRIES, ids=_IDS)
def test_sync_method_sends_its_rpc(recorder: tuple[_Recorder, str], rpc: str, entry: tuple[str, str]) -> None:
    handler, url = recorder
    args, kwargs = CALL_ARGS[entry]
    with Tigris(bearer_auth="t", server_url=url, retry=None, env={}) as client:
        handler.take()
        with pytest.raises(SDKError) as info:
            _method(client, entry)(*args, **kwargs)
    assert info.value.code == "FAILED_PRECONDITION"
    assert handler.take() == [(f"/{rpc}", _expected_auth(rpc))]


@pytest.mark.asyncio
@pytest.mark.parametrize(("rpc", "entry"), _ENTRIES, ids=_IDS)
async def test_async_method_sends_its_rpc(recorder: tuple[_Recorder, str], rpc: str, entry: tuple[str, str]) -> None:
    handler, url = recorder
    args, kwargs = CALL_ARGS[entry]
    async with AsyncTigris(bearer_auth="t", server_url=url, retry=None, env={}) as client:
        handler.take()
        with pytest.raises(SDKError) as info:
            await _method(client, entry)(*args, **kwargs)
    assert info.value.code == "FAILED_PRECONDITION"
    assert handler.take() == [(f"/{rpc}", _expected_auth(rpc))]


# --- (b) Parity: the same public methods, with the same signatures ------------------------------


def _public(obj: object) -> dict[str, Any]:
    """Public attributes of an instance (methods, properties' values, sub-clients)."""
    return {name: getattr(obj, name) for name in dir(obj) if not name.startswith("_")}


@pytest.fixture
def pairs() -> Iterator[dict[str, tuple[object, object]]]:
    """label -> (sync object, async object): the clients, then each sub-client pair."""
    sync_client, async_client = _offline_clients()
    try:
        found: dict[str, tuple[object, object]] = {"client": (sync_client, async_client)}
        found.update({name: (getattr(sync_client, name), getattr(async_client, name)) for name in SUB_CLIENTS})
        yield found
    finally:
        sync_client.close()


def _signature(fn: Callable[..., Any]) -> list[tuple[str, Any, Any, Any]]:
    return [(p.name, p.kind, p.default, p.annotation) for p in inspect.signature(fn).parameters.values()]


def test_both_clients_have_the_same_sub_clients(pairs: dict[str, tuple[object, object]]) -> None:
    def sub_clients(client: object) -> set[str]:
        return {name for name, value in _public(client).items() if not callable(value) and hasattr(value, "_edge")}

    sync_client, async_client = pairs["client"]
    assert sub_clients(sync_client) == sub_clients(async_client) == set(SUB_CLIENTS)


@pytest.mark.parametrize("label", ["client", *SUB_CLIENTS])
def test_public_names_are_the_same_on_both_clients(pairs: dict[str, tuple[object, object]], label: str) -> None:
    sync_obj, async_obj = pairs[label]
    sync_names, async_names = set(_public(sync_obj)), set(_public(async_obj))
    assert sync_names - async_names == set(), f"only on the sync {label}"
    assert async_names - sync_names == set(), f"only on the async {label}"
    assert sync_names, "nothing public found: the comparison would be vacuous"


@pytest.mark.parametrize("label", ["client", *SUB_CLIENTS])
def test_signatures_match_and_async_methods_are_coroutines(pairs: dict[str, tuple[object, object]], label: str) -> None:
    sync_obj, async_obj = pairs[label]
    compared = 0
    for attr, sync_value in _public(sync_obj).items():
        async_value = getattr(async_obj, attr)
        if not inspect.ismethod(sync_value):
            assert not inspect.ismethod(async_value), f"{label}.{attr} is a method only on AsyncTigris"
            continue  # properties and sub-clients: names compared above
        assert inspect.ismethod(async_value), f"{label}.{attr} is a method only on Tigris"
        assert _signature(sync_value) == _signature(async_value), f"{label}.{attr} signatures differ"
        assert not inspect.iscoroutinefunction(sync_value), f"Tigris {label}.{attr} is async"
        assert inspect.iscoroutinefunction(async_value), f"AsyncTigris {label}.{attr} is not a coroutine function"
        compared += 1
    assert compared, "no methods compared"


def test_constructors_have_the_same_signature() -> None:
    assert _signature(Tigris.__init__) == _signature(AsyncTigris.__init__)
    assert "bearer_auth" in inspect.signature(AsyncTigris).parameters


def test_context_managers_match_their_kind() -> None:
    assert callable(getattr(Tigris, "__enter__", None))
    assert callable(getattr(Tigris, "__exit__", None))
    assert inspect.iscoroutinefunction(AsyncTigris.__aenter__)
    assert inspect.iscoroutinefunction(AsyncTigris.__aexit__)
    # An async client used with a plain `with` would never be closed: it must refuse.
    assert not hasattr(AsyncTigris, "__enter__")


# --- (c) The exported names -----------------------------------------------------------------------


def test_all_is_pinned() -> None:
    assert tigris_grpc.__all__ == EXPECTED_ALL


@pytest.mark.parametrize("name", EXPECTED_ALL)
def test_every_exported_name_imports(name: str) -> None:
    module = importlib.import_module("tigris_grpc")
    assert getattr(module, name) is not None
    namespace: dict[str, Any] = {}
    exec(f"from tigris_grpc import {name}", namespace)  # the statement users write
    assert namespace[name] is getattr(tigris_grpc, name)


def test_exported_errors_are_sdk_errors() -> None:
    errors = [getattr(tigris_grpc, name) for name in EXPECTED_ALL if name.endswith("Error")]
    assert errors
    assert all(isinstance(cls, type) and issubclass(cls, SDKError) for cls in errors)


def test_importing_the_package_loads_the_client_only_on_first_use() -> None:
    """The package is a pytest plugin: every pytest run in an environment with it pays its import."""
    code = (
        "import sys, tigris_grpc, tigris_grpc.testing\n"
        "assert 'tigris_grpc._client' not in sys.modules, 'client loaded on import'\n"
        "assert 'tigris_grpc.server' not in sys.modules, 'server loaded on import'\n"
        "assert tigris_grpc.Tigris.__name__ == 'Tigris'\n"
        "assert 'tigris_grpc._client' in sys.modules\n"
        "try:\n"
        "    tigris_grpc.NoSuchName\n"
        "except AttributeError as exc:\n"
        "    assert 'NoSuchName' in str(exc)\n"
        "else:\n"
        "    raise AssertionError('no AttributeError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
