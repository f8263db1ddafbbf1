"""Security: users cannot read each other's keys, bad tokens get UNAUTHENTICATED through the
client, and no token or secret ever shows up in logs, reprs, exception text or server output.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _procs import ServerProcess

from tigris_grpc import (
    AsyncBearerAuthInterceptor,
    BearerAuthInterceptor,
    InternalServerError,
    SDKError,
    Tigris,
    UnauthenticatedError,
)
from tigris_grpc._auth import merge_metadata
from tigris_grpc._config import EnvSettings
from tigris_grpc.server import ClientCredential, LocalTigrisServer, ServerConfig
from tigris_grpc.testing import local_tigris

SECRET = "s3cr3t-client-secret-4f9a"  # distinctive, so any leak is found by a plain search
CLIENT_ID = "security-app"


def _user(client: Tigris, key: str) -> Any:
    body = client.user.get_metadata(metadata_key=key).get_user_metadata_response
    assert body is not None
    return body.value


def _b64url_json(segment: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return decoded


def _b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


# --- Isolation -------------------------------------------------------------------------------------


def test_a_token_for_one_user_never_reads_another_users_keys(tigris_server: LocalTigrisServer) -> None:
    with (
        Tigris(tigris_server.mint_token("alice"), server_url=tigris_server.url) as alice,
        Tigris(tigris_server.mint_token("bob"), server_url=tigris_server.url) as bob,
    ):
        bob.user.update_metadata(metadata_key="profile", value={"owner": "bob", "card": "4111"})
        assert _user(alice, "profile") is None  # bob's key does not exist for alice
        # The same key is a different entry: alice's insert does not collide with bob's.
        inserted = alice.user.insert_metadata(metadata_key="profile", value={"owner": "alice"})
        assert inserted.insert_user_metadata_response is not None
        assert inserted.insert_user_metadata_response.user_id == "alice"
        assert _user(alice, "profile") == {"owner": "alice"}
        assert _user(bob, "profile") == {"owner": "bob", "card": "4111"}
        alice.user.update_metadata(metadata_key="profile", value={"owner": "alice", "v": 2})
        assert _user(bob, "profile") == {"owner": "bob", "card": "4111"}


def test_the_same_user_in_another_namespace_sees_neither_its_keys_nor_the_namespaces(
    tigris_server: LocalTigrisServer,
) -> None:
    with Tigris(tigris_server.mint_token("alice"), server_url=tigris_server.url) as home:
        home.namespace.create(name="tenant-b")
        home.user.update_metadata(metadata_key="k", value="home")
        home.namespace.update_metadata(metadata_key="shared", value="home namespace")
        with Tigris(tigris_server.mint_token("alice", namespace="tenant-b"), server_url=tigris_server.url) as away:
            assert _user(away, "k") is None
            body = away.namespace.get_metadata(metadata_key="shared").get_namespace_metadata_response
            assert body is not None
            assert body.value is None
            away.user.update_metadata(metadata_key="k", value="away")
        assert _user(home, "k") == "home"


# --- Bad tokens ------------------------------------------------------------------------------------


def _bad_tokens(server: LocalTigrisServer, other: LocalTigrisServer) -> dict[str, str]:
    token = server.mint_token("alice")
    header, payload, signature = token.split(".")
    claims = _b64url_json(payload)
    forged = _b64url({**claims, "sub": "bob"})
    unsigned_header = _b64url({"alg": "none", "typ": "JWT"})
    return {
        "signature flipped": f"{header}.{payload}.{_flip(signature, len(signature) // 2)}",
        "payload flipped": f"{header}.{_flip(payload, len(payload) // 2)}.{signature}",
        "claims forged": f"{header}.{forged}.{signature}",
        "alg none": f"{unsigned_header}.{forged}.",
        "signature dropped": f"{header}.{payload}.",
        "another server's key": other.mint_token("alice"),
        "expired": server.mint_token("alice", ttl=-60),
        "not a JWT": "not-a-jwt",
    }


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[LocalTigrisServer, LocalTigrisServer]]:
    with local_tigris() as server, local_tigris() as other:
        yield server, other


@pytest.mark.parametrize(
    "kind",
    [
        "signature flipped",
        "payload flipped",
        "claims forged",
        "alg none",
        "signature dropped",
        "another server's key",
        "expired",
        "not a JWT",
    ],
)
def test_bad_tokens_get_401_through_the_client(servers: tuple[LocalTigrisServer, LocalTigrisServer], kind: str) -> None:
    server, other = servers
    token = _bad_tokens(server, other)[kind]
    with Tigris(server.mint_token("bob"), server_url=server.url) as bob:
        bob.user.update_metadata(metadata_key="secret", value="bob's")
    with Tigris(token, server_url=server.url) as client:
        with pytest.raises(UnauthenticatedError) as raised:
            client.user.get_metadata(metadata_key="secret")
        assert raised.value.status_code == 401
        with pytest.raises(UnauthenticatedError):
            client.user.update_metadata(metadata_key="secret", value="overwritten")
    with Tigris(server.mint_token("bob"), server_url=server.url) as bob:
        assert _user(bob, "secret") == "bob's"


def test_a_token_is_refused_once_it_expires_even_after_being_accepted(tigris_server: LocalTigrisServer) -> None:
    token = tigris_server.mint_token("alice", ttl=2)
    expires_at = _b64url_json(token.split(".")[1])["exp"]
    with Tigris(token, server_url=tigris_server.url) as client:
        client.user.update_metadata(metadata_key="k", value=1)  # accepted (and cached by the server)
        time.sleep(max(0.0, expires_at - time.time()) + 0.05)
        with pytest.raises(UnauthenticatedError) as raised:
            client.user.get_metadata(metadata_key="k")
    assert raised.value.status_code == 401


def test_a_caller_authorization_header_replaces_ours_and_a_wrong_scheme_is_refused(
    tigris_server: LocalTigrisServer,
) -> None:
    ours = (("authorization", "Bearer ours"),)
    assert merge_metadata(ours, [("authorization", "Basic xyz")]) == (("authorization", "Basic xyz"),)
    with Tigris(tigris_server.mint_token("alice"), server_url=tigris_server.url) as client:
        assert _user(client, "k") is None  # the token itself is good
        for header in ("Basic xyz", "Token abc", "Bearer", f"Basic {tigris_server.mint_token('alice')}"):
            with pytest.raises(UnauthenticatedError) as raised:
                client.user.get_metadata(metadata_key="k", metadata=[("authorization", header)])
            assert raised.value.status_code == 401


def test_client_credentials_do_not_retry_around_a_caller_supplied_authorization(
    tigris_server: LocalTigrisServer,
) -> None:
    with Tigris(
        server_url=tigris_server.url, client_id=tigris_server.client_id, client_secret=tigris_server.client_secret
    ) as client:
        assert client.health()
        with pytest.raises(UnauthenticatedError):
            client.user.get_metadata(metadata_key="k", metadata=[("authorization", "Basic xyz")])
        assert _user(client, "k") is None  # its own token still works


def test_no_token_at_all_gets_401(tigris_server: LocalTigrisServer) -> None:
    with Tigris(server_url=tigris_server.url, env={}) as client:
        assert client.health()  # Health needs no token
        for call in (
            lambda: client.user.get_metadata(metadata_key="k"),
            lambda: client.user.insert_metadata(metadata_key="k", value=1),
            client.namespace.list,
        ):
            with pytest.raises(UnauthenticatedError) as raised:
                call()
            assert raised.value.status_code == 401


# --- Nothing secret in logs, reprs, errors or server output --------------------------------------


def _leaks(text: str, secrets: list[str]) -> list[str]:
    found = [secret[:12] + "..." for secret in secrets if secret in text]
    if "Bearer " in text:
        found.append("'Bearer ' header text")
    return found


def _secrets(tokens: list[str]) -> list[str]:
    # Whole tokens, and signatures alone in case a token is ever logged cut short.
    return [SECRET, *tokens, *(t.rsplit(".", 1)[1] for t in tokens if t.count(".") == 2 and t.rsplit(".", 1)[1])]


def _exception_texts(exc: BaseException | None) -> list[str]:
    """str() and repr() of an exception and of every exception chained to it.

    Tracebacks add only source lines to these (Python prints no local values), so the
    messages are where a secret could leak; source lines of this very test would only
    produce false alarms.
    """
    texts: list[str] = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        texts += [str(exc), repr(exc), *traceback.format_exception_only(type(exc), exc)]
        exc = exc.__cause__ or exc.__context__
    return texts


class _Session:
    """Runs calls, keeping every exception and response for inspection."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self.responses: list[object] = []

    def run(self, call: Callable[[], object]) -> None:
        try:
            self.responses.append(call())
        except (SDKError, ValueError, TypeError) as exc:
            self.errors.append(exc)

    def texts(self) -> list[str]:
        texts = [repr(response) for response in self.responses]
        for exc in self.errors:
            texts += _exception_texts(exc)
        return texts


def _session_against(url: str, mint: Callable[[str, int], str] | None, session: _Session) -> list[str]:
    """A session with client credentials, a static token and failing calls; returns the tokens seen."""
    tokens: list[str] = []
    creds = Tigris(server_url=url, client_id=CLIENT_ID, client_secret=SECRET, timeout=5)
    session.run(creds.health)
    session.run(lambda: creds.user.update_metadata(metadata_key="k", value={"v": 1}))
    session.run(lambda: creds.user.get_metadata(metadata_key="k"))
    session.run(lambda: creds.user.insert_metadata(metadata_key="k", value=2))  # exists: INTERNAL
    session.run(lambda: creds.user.update_metadata(metadata_key="big", value="x" * 200_000))  # ValueError
    session.run(lambda: creds.user.get_metadata(metadata_key="k", metadata=[("authorization", f"Basic {SECRET}")]))
    session.run(lambda: creds.user.get_metadata(metadata_key="k", metadata=[("x-secret", f"{SECRET}\n")]))
    session.run(creds.auth.get_access_token)
    session.run(lambda: creds.auth.get_access_token(client_id=CLIENT_ID, client_secret=SECRET + "-wrong"))
    answer = creds.auth.get_access_token().get_access_token_response
    assert answer is not None
    assert answer.access_token
    token: str = answer.access_token
    tokens.append(token)

    static = Tigris(answer.access_token, server_url=url)
    session.run(lambda: static.user.get_metadata(metadata_key="k"))
    session.run(static.namespace.list)
    header, payload, signature = answer.access_token.split(".")
    tampered = f"{header}.{payload}.{_flip(signature, 5)}"
    tokens.append(tampered)
    bad_secret = Tigris(server_url=url, client_id=CLIENT_ID, client_secret=SECRET + "-wrong")
    tampered_client = Tigris(tampered, server_url=url)
    nobody = Tigris(server_url=url, env={})
    session.run(lambda: bad_secret.user.get_metadata(metadata_key="k"))
    session.run(lambda: tampered_client.user.get_metadata(metadata_key="k"))
    session.run(lambda: nobody.user.get_metadata(metadata_key="k"))
    session.run(lambda: Tigris(f"Bearer {SECRET} with spaces", server_url=url))  # ValueError, not echoed
    if mint is not None:
        expired = mint("alice", -5)
        tokens.append(expired)
        with Tigris(expired, server_url=url) as client:
            session.run(lambda: client.user.get_metadata(metadata_key="k"))

    session.responses += [repr(c) for c in (creds, static, bad_secret, tampered_client, nobody)]
    session.responses += [
        repr(BearerAuthInterceptor(answer.access_token)),
        repr(AsyncBearerAuthInterceptor(answer.access_token)),
        repr(BearerAuthInterceptor(lambda: token)),
        repr(EnvSettings.from_env({"TIGRIS_TOKEN": answer.access_token, "TIGRIS_CLIENT_SECRET": SECRET})),
        repr(ClientCredential(CLIENT_ID, SECRET)),
    ]
    for client in (creds, static, bad_secret, tampered_client, nobody):
        client.close()
    assert any(isinstance(e, UnauthenticatedError) for e in session.errors)
    assert any(isinstance(e, InternalServerError) for e in session.errors)
    return tokens


def test_no_secret_or_token_in_logs_reprs_or_errors(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    for name in ("", "tigris_grpc", "tigris_grpc.server"):
        caplog.set_level(logging.DEBUG, logger=name)
    config = {"clients": (ClientCredential(CLIENT_ID, SECRET),), "token_ttl": 60}
    session = _Session()
    with local_tigris(**config) as server:
        tokens = _session_against(server.url, lambda user, ttl: server.mint_token(user, ttl=ttl), session)
        tokens.append(server.mint_token(CLIENT_ID))
        session.responses += [repr(server), repr(server.config)]
        # A server restart (new signing key, in memory) makes the cached token invalid: the
        # client refreshes it. That path must not log the token either.
        port = server.port
        refreshing = Tigris(server_url=server.url, client_id=CLIENT_ID, client_secret=SECRET)
        session.run(lambda: refreshing.user.get_metadata(metadata_key="k"))
    with LocalTigrisServer(ServerConfig(port=port, **config)):  # type: ignore[arg-type]
        session.run(lambda: refreshing.user.get_metadata(metadata_key="k"))
        refreshing.close()
    assert session.errors, "the session was meant to fail some calls"
    assert any("GetUserMetadata" in r.getMessage() for r in caplog.records), "server DEBUG logging was not captured"

    secrets = _secrets(tokens)
    for record in caplog.records:
        text = "\n".join([record.getMessage(), *_exception_texts(record.exc_info[1] if record.exc_info else None)])
        assert not _leaks(text, secrets), f"log record {record.name}:{record.levelname} leaks {_leaks(text, secrets)}"
    for text in session.texts():
        assert not _leaks(text, secrets), f"{_leaks(text, secrets)} in {text[:300]!r}"
    out, err = capfd.readouterr()
    assert not _leaks(out + err, secrets), _leaks(out + err, secrets)


def test_no_secret_or_token_in_the_server_process_output_at_debug() -> None:
    session = _Session()
    with ServerProcess("--log-level", "DEBUG", "--client", f"{CLIENT_ID}:{SECRET}", "--token-ttl", "60") as server:
        server.start()
        tokens = _session_against(server.url, None, session)
        assert server.terminate() == 0, server.stderr[-3000:]
        output = server.stdout + "\n" + server.stderr
    assert "GetUserMetadata OK" in output, f"no DEBUG lines from the server:\n{output[:2000]}"
    assert "GetAccessToken" in output
    leaks = _leaks(output, _secrets(tokens))
    assert not leaks, f"server output leaks {leaks}"
    for text in session.texts():
        assert not _leaks(text, _secrets(tokens)), text[:300]
