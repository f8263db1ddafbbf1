"""The programmatic surface of the local server and of ``tigris_grpc.testing``, graceful stop,
and robustness against malformed input on a raw channel."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from _server_helpers import Raw, assert_error, bearer

import tigris_grpc.server
from tigris_grpc._pb import auth_pb2, management_pb2
from tigris_grpc.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    ClientCredential,
    LocalTigrisServer,
    ServerConfig,
)
from tigris_grpc.server._store import Store
from tigris_grpc.testing import local_tigris


def test_public_names() -> None:
    assert set(tigris_grpc.server.__all__) == {
        "DEFAULT_CLIENT_ID",
        "DEFAULT_CLIENT_SECRET",
        "DEFAULT_NAMESPACE",
        "ClientCredential",
        "LocalTigrisServer",
        "ServerConfig",
        "main",
    }
    assert (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET) == ("tigris-local", "tigris-local-secret")


# --- configuration -------------------------------------------------------------------------------


def test_config_defaults() -> None:
    config = ServerConfig()
    assert (config.host, config.port, config.token_ttl, config.data_path) == (
        "127.0.0.1",
        8081,
        86400,
        None,
    )
    assert config.clients == (ClientCredential(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, "default_namespace"),)


@pytest.mark.parametrize(
    "fields",
    [
        {"port": -1},
        {"port": 65536},
        {"token_ttl": 0},
        {"token_ttl": 2**31},
        {"max_workers": 0},
        {"clients": ()},
        {"clients": (ClientCredential("a", "x"), ClientCredential("a", "y"))},
    ],
)
def test_config_rejects_bad_values(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  # the message varies by field
        ServerConfig(**fields)  # type: ignore[arg-type]


def test_config_is_frozen_and_stores_clients_as_a_tuple() -> None:
    config = ServerConfig(clients=[ClientCredential("a", "b")])  # type: ignore[arg-type]
    assert config.clients == (ClientCredential("a", "b"),)
    with pytest.raises(AttributeError):
        config.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("app:secret", ("app", "secret", "default_namespace")),
        ("app:secret@tenant", ("app", "secret", "tenant")),
        ("app:se:cr:et@tenant", ("app", "se:cr:et", "tenant")),
    ],
)
def test_client_credential_parse(spec: str, expected: tuple[str, str, str]) -> None:
    credential = ClientCredential.parse(spec)
    assert (credential.client_id, credential.client_secret, credential.namespace) == expected


@pytest.mark.parametrize("spec", ["app", "app:", ":secret", "app:secret@", "app:@tenant"])
def test_client_credential_parse_rejects_incomplete_specs(spec: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        ClientCredential.parse(spec)


def test_secrets_stay_out_of_reprs() -> None:
    credential = ClientCredential("app", "hunter2-secret")
    assert "hunter2-secret" not in repr(credential)
    assert "hunter2-secret" not in repr(ServerConfig(clients=(credential,)))


# --- LocalTigrisServer ---------------------------------------------------------------------------


def test_lifecycle() -> None:
    server = LocalTigrisServer(ServerConfig(port=0))
    assert repr(server) == "<LocalTigrisServer stopped>"
    with pytest.raises(RuntimeError):
        server.mint_token("alice")
    with pytest.raises(RuntimeError):
        _ = server.url
    port = server.start()
    try:
        assert server.port == port > 0
        assert server.url == f"127.0.0.1:{port}"
        assert repr(server) == f"<LocalTigrisServer url='127.0.0.1:{port}'>"
        with pytest.raises(RuntimeError):
            server.start()
        with Raw(server.url) as raw:
            assert raw.healthy()
    finally:
        server.stop()
    server.stop()  # idempotent
    with Raw(f"127.0.0.1:{port}") as raw, pytest.raises(grpc.RpcError) as info:
        raw.healthy()
    error = info.value
    assert isinstance(error, grpc.Call)
    assert error.code() == grpc.StatusCode.UNAVAILABLE


def test_restart_in_process_keeps_data_and_tokens(tmp_path: Path) -> None:
    config = ServerConfig(port=0, data_path=tmp_path / "t.db")
    with LocalTigrisServer(config) as server, Raw(server.url) as raw:
        md = bearer(raw.token())
        raw.management.InsertUserMetadata(
            management_pb2.InsertUserMetadataRequest(metadataKey="k", value=b"1"), metadata=md
        )
    with LocalTigrisServer(config) as server, Raw(server.url) as raw:
        got = raw.management.GetUserMetadata(management_pb2.GetUserMetadataRequest(metadataKey="k"), metadata=md)
        assert got.value == b"1"


def test_in_memory_servers_share_nothing() -> None:
    with local_tigris() as a, local_tigris() as b, Raw(a.url) as raw_a, Raw(b.url) as raw_b:
        token_a = a.mint_token("alice")
        raw_a.management.InsertUserMetadata(
            management_pb2.InsertUserMetadataRequest(metadataKey="k", value=b"1"),
            metadata=bearer(token_a),
        )
        # b has its own signing key and store.
        assert_error(
            lambda: raw_b.management.GetUserMetadata(
                management_pb2.GetUserMetadataRequest(metadataKey="k"), metadata=bearer(token_a)
            ),
            grpc.StatusCode.UNAUTHENTICATED,
        )
        got = raw_b.management.GetUserMetadata(
            management_pb2.GetUserMetadataRequest(metadataKey="k"),
            metadata=bearer(b.mint_token("alice")),
        )
        assert got.value == b""


def test_stop_lets_an_in_flight_call_finish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entered = threading.Event()
    original = Store.upsert_user

    def slow_upsert(self: Store, code: int, user: str, key: str, value: bytes) -> None:
        entered.set()
        threading.Event().wait(0.5)  # a call still running when stop() begins
        original(self, code, user, key, value)

    monkeypatch.setattr(Store, "upsert_user", slow_upsert)
    config = ServerConfig(port=0, data_path=tmp_path / "t.db")
    server = LocalTigrisServer(config)
    server.start()
    try:
        with Raw(server.url) as raw:
            md = bearer(server.mint_token("alice"))
            future = raw.management.UpdateUserMetadata.future(
                management_pb2.UpdateUserMetadataRequest(metadataKey="k", value=b"1"), metadata=md
            )
            assert entered.wait(10)
            server.stop(grace=10)
            assert future.result(timeout=10).value == b"1"
    finally:
        server.stop()
    monkeypatch.undo()
    with LocalTigrisServer(config) as again, Raw(again.url) as raw:
        got = raw.management.GetUserMetadata(management_pb2.GetUserMetadataRequest(metadataKey="k"), metadata=md)
        assert got.value == b"1"


# --- tigris_grpc.testing -------------------------------------------------------------------------


def test_tigris_server_fixture(tigris_server: LocalTigrisServer) -> None:
    assert tigris_server.url == f"127.0.0.1:{tigris_server.port}"
    assert (tigris_server.client_id, tigris_server.client_secret) == (
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
    )
    with Raw(tigris_server.url) as raw:
        assert raw.token(tigris_server.client_id, tigris_server.client_secret)
        got = raw.management.GetUserMetadata(
            management_pb2.GetUserMetadataRequest(metadataKey="k"),
            metadata=bearer(tigris_server.mint_token("carol", ttl=30)),
        )
        assert got.userId == "carol"


def test_fixture_comes_from_the_registered_plugin(pytestconfig: pytest.Config) -> None:
    plugin = pytestconfig.pluginmanager.get_plugin("tigris_grpc")
    assert plugin is sys.modules["tigris_grpc.testing"]


def test_local_tigris_applies_overrides_and_stops() -> None:
    with local_tigris(token_ttl=60, clients=(ClientCredential("me", "pw"),)) as server:
        url = server.url
        with Raw(url) as raw:
            response = raw.auth.GetAccessToken(
                auth_pb2.GetAccessTokenRequest(
                    grant_type=auth_pb2.CLIENT_CREDENTIALS, client_id="me", client_secret="pw"
                )
            )
            assert response.expires_in == 60
    with pytest.raises(RuntimeError):
        _ = server.url


def test_testing_imports_without_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pytest", None)  # `import pytest` now raises ImportError
    spec = importlib.util.find_spec("tigris_grpc.testing")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.local_tigris)
    assert not hasattr(module, "tigris_server")


# --- robustness ----------------------------------------------------------------------------------

MANAGEMENT = "/tigrisdata.management.v1.Management/"


@pytest.fixture
def raw(tigris_server: LocalTigrisServer) -> Iterator[Raw]:
    with Raw(tigris_server.url) as raw:
        yield raw


@pytest.mark.parametrize(
    "path",
    [
        f"{MANAGEMENT}InsertUserMetadata",
        f"{MANAGEMENT}CreateNamespace",
        "/tigrisdata.auth.v1.Auth/GetAccessToken",
        "/HealthAPI/Health",
    ],
)
def test_undecodable_requests_fail_and_the_server_keeps_serving(
    raw: Raw, tigris_server: LocalTigrisServer, path: str
) -> None:
    # No serializers: raw bytes on the wire.
    call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = raw.channel.unary_unary(path)
    md = bearer(tigris_server.mint_token("alice"))
    for junk in (b"\xff\xff\xff\xff", b"\x0a\x05ab", b"\x12\xff\xff\xff\xff\x0f"):
        with pytest.raises(grpc.RpcError) as info:
            call(junk, metadata=md, timeout=10)
        error = info.value
        assert isinstance(error, grpc.Call)
        assert error.code() in {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
    assert raw.healthy()
    assert raw.token()


def test_junk_metadata_is_unauthenticated_and_harmless(raw: Raw, tigris_server: LocalTigrisServer) -> None:
    request = management_pb2.GetUserMetadataRequest(metadataKey="k")
    token = tigris_server.mint_token("alice")
    for metadata in (
        (("x-junk-bin", bytes(range(256))),),
        (("authorization", "Bearer " + "a" * 4000),),  # under grpc's 8 KiB header soft limit
        (("authorization", "Bearer .."),),
        (("authorization", "Bearer  "),),
        (("authorization", "Bearer x.eyJzdWIiOiJ4In0.x"),),
    ):
        assert_error(
            lambda: raw.management.GetUserMetadata(request, metadata=metadata),  # noqa: B023
            grpc.StatusCode.UNAUTHENTICATED,
        )
    # Junk next to a good header does not get in the way.
    got = raw.management.GetUserMetadata(request, metadata=(("x-junk-bin", b"\x00\xff"), *bearer(token)))
    assert got.userId == "alice"


def test_unknown_methods_are_unimplemented(raw: Raw) -> None:
    call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = raw.channel.unary_unary(f"{MANAGEMENT}NoSuchMethod")
    with pytest.raises(grpc.RpcError) as info:
        call(b"", timeout=10)
    error = info.value
    assert isinstance(error, grpc.Call)
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert raw.healthy()
