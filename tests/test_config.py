"""Client configuration: server URLs, TLS and plaintext rules, the environment, the retry policy."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from _fake_server import HEALTH, Abort, Reply, fake_server

import tigris_grpc as tigris
from tigris_grpc._config import HOSTED_URL, EnvSettings, RetryPolicy, Target, channel_options, parse_target
from tigris_grpc._pb import health_pb2

# url -> (grpc address, TLS?, loopback or unix?)
TARGETS: list[tuple[str, str, bool, bool]] = [
    ("api.example.com", "api.example.com:443", True, False),
    ("api.example.com:8443", "api.example.com:8443", True, False),
    ("https://api.example.com", "api.example.com:443", True, False),
    ("https://api.example.com:8443", "api.example.com:8443", True, False),
    ("HTTPS://API.Example.com", "api.example.com:443", True, False),
    ("grpcs://api.example.com", "api.example.com:443", True, False),
    (HOSTED_URL, HOSTED_URL, True, False),
    ("  api.example.com  ", "api.example.com:443", True, False),
    # Loopback: plaintext without asking, port 8081 by default like the real server.
    ("localhost:8081", "localhost:8081", False, True),
    ("localhost", "localhost:8081", False, True),
    ("http://localhost:8081", "localhost:8081", False, True),
    ("http://localhost", "localhost:8081", False, True),
    ("grpc://localhost:9000", "localhost:9000", False, True),
    ("127.0.0.1:8081", "127.0.0.1:8081", False, True),
    ("127.0.0.1", "127.0.0.1:8081", False, True),
    ("127.1.2.3:5", "127.1.2.3:5", False, True),
    ("[::1]:8081", "[::1]:8081", False, True),
    ("http://[::1]:8081", "[::1]:8081", False, True),
    ("app.localhost:8081", "app.localhost:8081", True, False),  # may resolve via DNS: TLS, not loopback
    # ...unless https says otherwise.
    ("https://localhost:8443", "localhost:8443", True, True),
    ("https://[::1]", "[::1]:443", True, True),
    # Unix sockets: passed to grpc as they are.
    ("unix:/tmp/tigris.sock", "unix:/tmp/tigris.sock", False, True),
    ("unix:///tmp/tigris.sock", "unix:///tmp/tigris.sock", False, True),
    ("unix:relative.sock", "unix:relative.sock", False, True),
    # Not loopback: 0.0.0.0 and :: mean "any interface", not "this host".
    ("0.0.0.0:8081", "0.0.0.0:8081", True, False),
    ("[::]:8081", "[::]:8081", True, False),
    ("10.0.0.5:8081", "10.0.0.5:8081", True, False),
]


@pytest.mark.parametrize(("url", "address", "secure", "local"), TARGETS, ids=[t[0] for t in TARGETS])
def test_parse_target(url: str, address: str, secure: bool, local: bool) -> None:
    assert parse_target(url) == Target(address, secure=secure, local=local)


REMOTE_PLAINTEXT = [
    "http://api.example.com",
    "http://api.example.com:8081",
    "grpc://10.0.0.5:8081",
    "http://app.localhost:8081",
]


@pytest.mark.parametrize("url", REMOTE_PLAINTEXT)
def test_plaintext_to_a_remote_host_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="refusing plaintext") as caught:
        parse_target(url)
    assert "insecure=True" in str(caught.value)  # says how to opt in


@pytest.mark.parametrize("url", REMOTE_PLAINTEXT)
def test_insecure_opts_in_to_plaintext(url: str) -> None:
    target = parse_target(url, insecure=True)
    assert (target.secure, target.local) == (False, False)


def test_insecure_makes_a_bare_remote_host_plaintext_but_never_downgrades_https() -> None:
    assert parse_target("api.example.com:8081", insecure=True) == Target("api.example.com:8081", False, False)
    assert parse_target("https://api.example.com", insecure=True).secure is True


def test_the_client_refuses_to_send_a_token_in_plaintext_to_a_remote_host() -> None:
    with pytest.raises(ValueError, match="refusing plaintext"):
        tigris.Tigris(bearer_auth="tok", server_url="http://api.example.com", env={})
    s = tigris.Tigris(bearer_auth="tok", server_url="http://api.example.com", insecure=True, env={})
    with s:
        assert s.server_url == "api.example.com:8081"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "non-empty"),
        ("   ", "non-empty"),
        ("ftp://api.example.com", "scheme 'ftp' is not supported"),
        ("api.example.com:notaport", "not a valid address"),
        ("api.example.com:99999", "not a valid address"),
        ("::1", "not a valid address"),  # IPv6 needs brackets
        ("https://api.example.com/v1", "no path"),
        ("https://api.example.com?x=1", "no path, query"),
        ("https://user@api.example.com", "no path, query or user"),
        ("http://", "host"),
        ("unix:", "names no socket path"),
    ],
)
def test_malformed_urls_are_value_errors_naming_the_problem(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_target(url)


@pytest.mark.parametrize("url", [None, 8081, b"localhost:8081"])
def test_non_string_urls_are_refused(url: Any) -> None:
    with pytest.raises(ValueError, match="non-empty string"):
        parse_target(url)


# --- server_idx and the environment --------------------------------------------------------------


@pytest.mark.parametrize(("index", "address"), [(0, HOSTED_URL), (1, "localhost:8081")])
def test_server_idx(index: int, address: str) -> None:
    with tigris.Tigris(bearer_auth="tok", server_idx=index, env={}) as s:
        assert s.server_url == address


@pytest.mark.parametrize("index", [-1, 2, True, "1", 1.0])
def test_invalid_server_idx(index: Any) -> None:
    with pytest.raises(ValueError, match="server_idx must be 0"):
        tigris.Tigris(bearer_auth="tok", server_idx=index, env={})


ENV = {"TIGRIS_URI": "uri.example.com:1111", "TIGRIS_URL": "url.example.com:2222"}


@pytest.mark.parametrize(
    ("kwargs", "env", "address"),
    [
        ({"server_url": "arg.example.com:3333"}, ENV, "arg.example.com:3333"),
        ({"server_idx": 1}, ENV, "localhost:8081"),
        ({"server_url": "arg.example.com:3333", "server_idx": 1}, ENV, "arg.example.com:3333"),
        ({}, ENV, "uri.example.com:1111"),
        ({}, {"TIGRIS_URL": "url.example.com:2222"}, "url.example.com:2222"),
        ({}, {"TIGRIS_URI": "", "TIGRIS_URL": "url.example.com:2222"}, "url.example.com:2222"),  # empty = unset
        ({}, {}, HOSTED_URL),
    ],
    ids=["argument", "server_idx", "argument over server_idx", "URI", "URL", "empty URI", "default"],
)
def test_server_precedence(kwargs: dict[str, Any], env: dict[str, str], address: str) -> None:
    with tigris.Tigris(bearer_auth="tok", env=env, **kwargs) as s:
        assert s.server_url == address


def test_environment_urls_follow_the_same_plaintext_rules() -> None:
    with pytest.raises(ValueError, match="refusing plaintext"):
        tigris.Tigris(bearer_auth="tok", env={"TIGRIS_URI": "http://api.example.com"})
    with tigris.Tigris(bearer_auth="tok", env={"TIGRIS_URI": "http://localhost:9999"}) as s:
        assert s.server_url == "localhost:9999"


def test_env_settings_reads_only_the_mapping_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIGRIS_URI", "from-os.example.com")
    assert EnvSettings.from_env({}) == EnvSettings()
    assert EnvSettings.from_env().url == "from-os.example.com"  # the default is os.environ
    settings = EnvSettings.from_env(
        {"TIGRIS_TOKEN": "tok-secret", "TIGRIS_CLIENT_ID": "id", "TIGRIS_CLIENT_SECRET": "sec-secret"}
    )
    assert (settings.token, settings.client_id, settings.client_secret) == ("tok-secret", "id", "sec-secret")
    assert "tok-secret" not in repr(settings)
    assert "sec-secret" not in repr(settings)


# --- The REST SDK's other constructor arguments ---------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"client": object()}, "client= is the REST SDK's HTTP session"),
        ({"retry_config": object()}, "retry=RetryPolicy"),
        ({"url_params": {"region": "eu"}}, "url_params= is not used"),
    ],
    ids=["client", "retry_config", "url_params"],
)
def test_rest_only_arguments_are_rejected_clearly(kwargs: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        tigris.Tigris(bearer_auth="tok", env={}, **kwargs)


def test_rest_arguments_left_empty_are_accepted() -> None:
    with tigris.Tigris(bearer_auth="tok", url_params=None, client=None, retry_config=None, env={}) as s:
        assert s.server_url == HOSTED_URL


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"timeout": 0}, ValueError),
        ({"timeout": -1}, ValueError),
        ({"timeout": float("inf")}, ValueError),
        ({"timeout": "10"}, TypeError),
        ({"retry": {"max_attempts": 3}}, TypeError),
        ({"bearer_auth": 123}, TypeError),
        ({"bearer_auth": ""}, ValueError),
    ],
    ids=["zero timeout", "negative timeout", "infinite timeout", "str timeout", "dict retry", "int token", "empty"],
)
def test_invalid_constructor_arguments(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        tigris.Tigris(server_url="localhost:8081", env={}, **kwargs)


# --- RetryPolicy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 1},
        {"max_attempts": 6},
        {"max_attempts": 2.5},
        {"max_attempts": True},
        {"initial_backoff": 0},
        {"initial_backoff": -0.1},
        {"initial_backoff": float("nan")},
        {"max_backoff": float("inf")},
        {"initial_backoff": 0.00001},  # would print as "1e-05s", which grpc refuses
        {"initial_backoff": 0.0019},  # grpc sometimes loses retries scheduled under 2 ms
        {"max_backoff": 0.005},
        {"backoff_multiplier": 0},
        {"retryable_codes": ()},
        {"retryable_codes": ("NOT_A_CODE",)},
        {"retryable_codes": ("OK",)},
        {"retryable_codes": "UNAVAILABLE"},  # a str, not a tuple of names
    ],
    ids=repr,
)
def test_retry_policy_validation(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs)).split("_")[0]):
        RetryPolicy(**kwargs)


def _retry_config(policy: RetryPolicy) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(policy.service_config())
    return config


def test_retry_policy_names_only_idempotent_methods() -> None:
    (method_config,) = _retry_config(RetryPolicy())["methodConfig"]
    names = {(entry["service"], entry["method"]) for entry in method_config["name"]}
    mgmt = "tigrisdata.management.v1.Management"
    assert names == {
        (mgmt, "GetUserMetadata"),
        (mgmt, "UpdateUserMetadata"),
        (mgmt, "GetNamespaceMetadata"),
        (mgmt, "UpdateNamespaceMetadata"),
        (mgmt, "ListNamespaces"),
        ("tigrisdata.auth.v1.Auth", "GetAccessToken"),
        ("HealthAPI", "Health"),
    }
    # A retried insert or create could answer "already exists" for a write that succeeded.
    assert not any(method.startswith("Insert") or method == "CreateNamespace" for _, method in names)
    assert method_config["retryPolicy"] == {
        "maxAttempts": 4,
        "initialBackoff": "0.1s",
        "maxBackoff": "2.0s",
        "backoffMultiplier": 2.0,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }


def test_retry_policy_durations_are_in_grpcs_format() -> None:
    policy = RetryPolicy(
        max_attempts=5, initial_backoff=0.015, max_backoff=30, retryable_codes=("UNAVAILABLE", "ABORTED")
    )
    retry = _retry_config(policy)["methodConfig"][0]["retryPolicy"]
    assert (retry["initialBackoff"], retry["maxBackoff"]) == ("0.015s", "30s")
    assert retry["retryableStatusCodes"] == ["UNAVAILABLE", "ABORTED"]
    # grpc itself accepts the config (it fails every call on a channel with an invalid one) and
    # applies it: ABORTED is retried too.
    healthy = health_pb2.HealthCheckResponse(response="OK").SerializeToString()
    with fake_server() as server:
        server.on(HEALTH, Abort(grpc.StatusCode.ABORTED, "try again"), Reply(healthy))
        with tigris.Tigris(server_url=server.url, retry=policy, env={}) as s:
            assert s.health() is True
        assert len(server.calls) == 2


def test_channel_options() -> None:
    options = dict(channel_options(RetryPolicy(), [("grpc.keepalive_time_ms", 30_000)]))
    assert options["grpc.primary_user_agent"] == f"tigris-grpc-python/{tigris.__version__}"
    assert options["grpc.enable_retries"] == 1
    assert json.loads(options["grpc.service_config"]) == _retry_config(RetryPolicy())
    assert options["grpc.keepalive_time_ms"] == 30_000  # the caller's options are kept
    off = dict(channel_options(None))
    assert off["grpc.enable_retries"] == 0
    assert "grpc.service_config" not in off


def test_retry_policy_is_frozen() -> None:
    policy = RetryPolicy()
    with pytest.raises(AttributeError):
        policy.max_attempts = 5  # type: ignore[misc]
