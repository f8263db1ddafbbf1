"""Authentication on the local server: GetAccessToken, bearer tokens, every failure mode, and
that no token or secret ever reaches a log or an error message."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import grpc
import jwt
import pytest
from _server_helpers import Raw, assert_error, bearer

from tigris_grpc._pb import auth_pb2, health_pb2, management_pb2
from tigris_grpc.server import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    ClientCredential,
    LocalTigrisServer,
)
from tigris_grpc.server._tokens import TokenAuthority, TokenError
from tigris_grpc.testing import local_tigris

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


@pytest.fixture
def raw(tigris_server: LocalTigrisServer) -> Iterator[Raw]:
    with Raw(tigris_server.url) as raw:
        yield raw


def _payload(token: str) -> dict[str, Any]:
    """Decodes a JWT payload the way the contract says: base64url, padding restored."""
    part = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def _get(raw: Raw, metadata: tuple[tuple[str, str], ...] = ()) -> Any:
    return raw.management.GetUserMetadata(
        management_pb2.GetUserMetadataRequest(metadataKey="k"), metadata=metadata, timeout=10
    )


def _grant(raw: Raw, **fields: Any) -> Any:
    return raw.auth.GetAccessToken(auth_pb2.GetAccessTokenRequest(**fields), timeout=10)


# --- GetAccessToken ------------------------------------------------------------------------------


def test_client_credentials_grant_issues_a_working_token(raw: Raw) -> None:
    before = int(time.time())
    response = _grant(
        raw,
        grant_type=auth_pb2.CLIENT_CREDENTIALS,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
    )
    after = int(time.time())
    assert response.expires_in == 86400
    assert response.refresh_token == ""
    claims = _payload(response.access_token)
    assert claims["sub"] == DEFAULT_CLIENT_ID
    assert claims["https://tigris"] == {"nc": "default_namespace"}
    # exp may be rounded up a second, never down: the token lives at least expires_in.
    assert before + 86400 <= claims["exp"] <= after + 86401
    got = _get(raw, bearer(response.access_token))
    assert (got.userId, got.namespaceId, got.value) == (DEFAULT_CLIENT_ID, 1, b"")


def test_configured_clients_get_their_namespace_created_at_start() -> None:
    clients = (
        ClientCredential("app", "s3cret:with-colon", "tenant-a"),
        ClientCredential("other", "x", "tenant-b"),
    )
    with local_tigris(clients=clients, token_ttl=120) as server, Raw(server.url) as raw:
        assert (server.client_id, server.client_secret) == ("app", "s3cret:with-colon")
        for client_id, secret, code in (("app", "s3cret:with-colon", 2), ("other", "x", 3)):
            response = _grant(
                raw,
                grant_type=auth_pb2.CLIENT_CREDENTIALS,
                client_id=client_id,
                client_secret=secret,
            )
            assert response.expires_in == 120
            got = _get(raw, bearer(response.access_token))
            assert (got.userId, got.namespaceId) == (client_id, code)
        # The development pair is not accepted once clients are configured.
        assert_error(
            lambda: raw.token(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
            UNAUTHENTICATED,
            "Invalid credentials",
        )


@pytest.mark.parametrize(
    ("client_id", "client_secret"),
    [
        (DEFAULT_CLIENT_ID, "wrong"),
        (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET + "x"),
        (DEFAULT_CLIENT_ID, ""),
        ("nobody", DEFAULT_CLIENT_SECRET),
        ("", ""),
    ],
)
def test_wrong_credentials_are_invalid_credentials(raw: Raw, client_id: str, client_secret: str) -> None:
    assert_error(lambda: raw.token(client_id, client_secret), UNAUTHENTICATED, "Invalid credentials")


def test_refresh_token_grant_is_unimplemented(raw: Raw) -> None:
    for request in (
        {"grant_type": auth_pb2.REFRESH_TOKEN, "refresh_token": "r"},
        # REFRESH_TOKEN is the zero value: a client that forgets grant_type sends it.
        {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET},
    ):
        assert_error(lambda: _grant(raw, **request), grpc.StatusCode.UNIMPLEMENTED)  # noqa: B023


def test_health_and_get_access_token_need_no_token(raw: Raw) -> None:
    assert raw.health.Health(health_pb2.HealthCheckInput()).response == "OK"
    assert raw.token()


# --- bearer tokens on Management calls -----------------------------------------------------------


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{header}.{payload}.{flipped}"


def _forged_payload(token: str) -> str:
    header, _, signature = token.split(".")
    claims = {**_payload(token), "sub": "mallory"}
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-header"),
        pytest.param("Basic {token}", id="basic-scheme"),
        pytest.param("{token}", id="no-scheme"),
        pytest.param("Bearer", id="bearer-without-token"),
        pytest.param("Bearer garbage", id="garbage"),
        pytest.param("Bearer a.b.c", id="three-garbage-parts"),
        pytest.param("Bearer {tampered}", id="tampered-signature"),
        pytest.param("Bearer {forged}", id="tampered-payload"),
        pytest.param("Bearer {expired}", id="expired"),
        pytest.param("Bearer {foreign}", id="other-servers-key"),
        pytest.param("Bearer {unsigned}", id="alg-none"),
    ],
)
def test_bad_authorization_is_unauthenticated(
    raw: Raw, tigris_server: LocalTigrisServer, authorization: str | None
) -> None:
    token = tigris_server.mint_token("alice")
    values = {
        "token": token,
        "tampered": _tampered(token),
        "forged": _forged_payload(token),
        "expired": tigris_server.mint_token("alice", ttl=-10),
        "foreign": TokenAuthority(b"k" * 32).issue("alice", "default_namespace", 60),
        "unsigned": jwt.encode(_payload(token), None, algorithm="none"),
    }
    metadata = () if authorization is None else (("authorization", authorization.format(**values)),)
    error = assert_error(lambda: _get(raw, metadata), UNAUTHENTICATED)
    for secret in values.values():
        assert secret not in (error.details() or "")
    # The same server accepts the genuine token.
    assert _get(raw, bearer(token)).userId == "alice"


def test_every_management_rpc_needs_a_token(raw: Raw) -> None:
    stub = raw.management
    calls = [
        lambda: stub.CreateNamespace(management_pb2.CreateNamespaceRequest(name="x")),
        lambda: stub.ListNamespaces(management_pb2.ListNamespacesRequest()),
        lambda: stub.DeleteNamespace(management_pb2.DeleteNamespaceRequest(namespace_id="x")),
        lambda: stub.InsertUserMetadata(management_pb2.InsertUserMetadataRequest(metadataKey="k", value=b"1")),
        lambda: stub.GetUserMetadata(management_pb2.GetUserMetadataRequest(metadataKey="k")),
        lambda: stub.UpdateUserMetadata(management_pb2.UpdateUserMetadataRequest(metadataKey="k", value=b"1")),
        lambda: stub.InsertNamespaceMetadata(
            management_pb2.InsertNamespaceMetadataRequest(metadataKey="k", value=b"1")
        ),
        lambda: stub.GetNamespaceMetadata(management_pb2.GetNamespaceMetadataRequest(metadataKey="k")),
        lambda: stub.UpdateNamespaceMetadata(
            management_pb2.UpdateNamespaceMetadataRequest(metadataKey="k", value=b"1")
        ),
    ]
    assert len(calls) == len(management_pb2.DESCRIPTOR.services_by_name["Management"].methods)
    for call in calls:
        assert_error(call, UNAUTHENTICATED, "Request unauthenticated with bearer")


def test_scheme_is_case_insensitive_like_the_real_server(raw: Raw, tigris_server: LocalTigrisServer) -> None:
    token = tigris_server.mint_token("alice")
    assert _get(raw, (("authorization", f"bearer {token}"),)).userId == "alice"
    assert _get(raw, (("authorization", f"BEARER  {token}"),)).userId == "alice"


def test_token_expires_even_after_it_was_verified_once(raw: Raw, tigris_server: LocalTigrisServer) -> None:
    token = tigris_server.mint_token("alice", ttl=1)
    assert _get(raw, bearer(token)).userId == "alice"  # verified, now cached
    exp = _payload(token)["exp"]
    time.sleep(max(0.0, exp - time.time()) + 0.05)
    assert_error(
        lambda: _get(raw, bearer(token)),
        UNAUTHENTICATED,
        "Failed to validate access token: token has expired",
    )


def test_token_naming_a_missing_namespace_is_not_found(raw: Raw, tigris_server: LocalTigrisServer) -> None:
    token = tigris_server.mint_token("alice", namespace="no-such-namespace")
    assert_error(
        lambda: _get(raw, bearer(token)),
        grpc.StatusCode.NOT_FOUND,
        "namespace 'no-such-namespace' not found",
    )


# --- TokenAuthority ------------------------------------------------------------------------------


KEY = b"0123456789abcdef0123456789abcdef"


def _sign(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, KEY, algorithm="HS256")


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"iss": "tigris-grpc-local", "https://tigris": {"nc": "n"}}, id="no-sub"),
        pytest.param({"sub": "a", "iss": "tigris-grpc-local"}, id="no-namespace"),
        pytest.param({"sub": "a", "iss": "tigris-grpc-local", "https://tigris": {}}, id="no-nc"),
        pytest.param({"sub": "a", "iss": "tigris-grpc-local", "https://tigris": "n"}, id="nc-not-object"),
        pytest.param({"sub": "", "iss": "tigris-grpc-local", "https://tigris": {"nc": "n"}}, id="empty-sub"),
        pytest.param({"sub": "a", "iss": "elsewhere", "https://tigris": {"nc": "n"}}, id="issuer"),
        pytest.param({"sub": "a", "https://tigris": {"nc": "n"}}, id="no-issuer"),
    ],
)
def test_tokens_missing_claims_are_rejected(claims: dict[str, Any]) -> None:
    authority = TokenAuthority(KEY)
    with pytest.raises(TokenError):
        authority.verify(_sign({"exp": int(time.time()) + 60, **claims}))
    # The same claims plus whatever was missing verify: the test rejects for the right reason.
    complete = {"sub": "a", "iss": "tigris-grpc-local", "https://tigris": {"nc": "n"}}
    assert authority.verify(_sign({"exp": int(time.time()) + 60, **complete})).user == "a"


def test_token_without_exp_is_rejected() -> None:
    claims = {"sub": "a", "iss": "tigris-grpc-local", "https://tigris": {"nc": "n"}}
    with pytest.raises(TokenError):
        TokenAuthority(KEY).verify(_sign(claims))


def test_issued_tokens_round_trip_and_the_cache_stays_bounded() -> None:
    authority = TokenAuthority(KEY, cache_size=3)
    tokens = [authority.issue(f"user{i}", "ns", 60) for i in range(10)]
    for i, token in enumerate(tokens):
        identity = authority.verify(token)
        assert (identity.user, identity.namespace) == (f"user{i}", "ns")
    assert len(authority._cache) == 3
    assert set(authority._cache) == set(tokens[-3:])
    assert authority.verify(tokens[0]).user == "user0"  # evicted tokens verify again


# --- logging -------------------------------------------------------------------------------------


def test_one_debug_line_per_call_and_never_a_token_or_secret(
    raw: Raw, tigris_server: LocalTigrisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tigris_grpc.server")
    token = raw.token()
    _get(raw, bearer(token))
    assert_error(lambda: _get(raw, bearer(_tampered(token))), UNAUTHENTICATED)
    assert_error(lambda: raw.token(DEFAULT_CLIENT_ID, "wrong-secret"), UNAUTHENTICATED)
    lines = [r.getMessage() for r in caplog.records if r.name == "tigris_grpc.server"]
    assert len(lines) == 4, lines
    assert lines[0].startswith("GetAccessToken OK ")
    assert lines[1].startswith(f"GetUserMetadata OK user={DEFAULT_CLIENT_ID} ")
    assert lines[1].endswith("ms")
    assert lines[2].startswith("GetUserMetadata UNAUTHENTICATED user=- ")
    assert lines[3].startswith("GetAccessToken UNAUTHENTICATED ")
    text = caplog.text
    for secret in (token, _tampered(token), DEFAULT_CLIENT_SECRET, "wrong-secret"):
        assert secret not in text
