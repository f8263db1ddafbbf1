"""Client configuration: frozen dataclasses, target parsing, and the one environment loader."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import grpc

from tigris_grpc._limits import MAX_MESSAGE_BYTES
from tigris_grpc._version import __version__

#: The hosted Tigris service (the REST SDK's server 0).
HOSTED_URL = "api.preview.tigrisdata.cloud:443"
#: A local Tigris server (the REST SDK's server 1).
LOCAL_URL = "localhost:8081"
SERVERS = (HOSTED_URL, LOCAL_URL)
USER_AGENT = f"tigris-grpc-python/{__version__}"
DEFAULT_TIMEOUT = 10.0

# Methods safe to repeat after UNAVAILABLE. Inserts and CreateNamespace are not: a retry after
# the server committed would answer "already exists" for a write that succeeded.
_MGMT = "tigrisdata.management.v1.Management"
IDEMPOTENT_METHODS: tuple[tuple[str, str], ...] = (
    (_MGMT, "GetUserMetadata"),
    (_MGMT, "UpdateUserMetadata"),
    (_MGMT, "GetNamespaceMetadata"),
    (_MGMT, "UpdateNamespaceMetadata"),
    (_MGMT, "ListNamespaces"),
    ("tigrisdata.auth.v1.Auth", "GetAccessToken"),
    ("HealthAPI", "Health"),
)


_RETRYABLE_NAMES = frozenset(grpc.StatusCode.__members__) - {"OK"}


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Retries of UNAVAILABLE, carried out by grpc itself (service-config retry policy).

    grpc jitters each delay (a random wait up to the current backoff) and applies them only to
    idempotent methods; inserts are never retried, so they are never duplicated.
    """

    max_attempts: int = 4
    """Total attempts, the first included (2 to 5; grpc caps it at 5)."""
    initial_backoff: float = 0.1
    """Upper bound in seconds of the first retry's random delay."""
    max_backoff: float = 2.0
    """Upper bound in seconds of any retry's delay."""
    backoff_multiplier: float = 2.0
    """Growth of the delay bound from one retry to the next."""
    retryable_codes: tuple[str, ...] = ("UNAVAILABLE",)
    """gRPC status names that are retried."""

    def __post_init__(self) -> None:
        # Checked here: grpc refuses a bad service config only when the channel is made, and
        # then fails every call with INVALID_ARGUMENT.
        attempts = self.max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 2 <= attempts <= 5:
            raise ValueError(f"max_attempts must be an int between 2 and 5, got {attempts!r}")
        for name in ("initial_backoff", "max_backoff", "backoff_multiplier"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise ValueError(f"{name} must be a positive, finite number, got {value!r}")
        for name in ("initial_backoff", "max_backoff"):
            # grpc 1.85 sometimes never sends a retry whose backoff is under 2 ms (the call then
            # hangs until its deadline); smaller values would also print as "1e-05s", which grpc
            # refuses.
            if getattr(self, name) < 0.01:
                raise ValueError(f"{name} must be at least 0.01 s, got {getattr(self, name)!r}")
        codes = self.retryable_codes
        if isinstance(codes, str) or not codes or not all(c in _RETRYABLE_NAMES for c in codes):
            raise ValueError(f"retryable_codes must be a non-empty tuple of gRPC status names, got {codes!r}")

    def service_config(self) -> str:
        """The grpc service config (JSON) that applies this policy to the idempotent methods."""
        return json.dumps(
            {
                "methodConfig": [
                    {
                        "name": [{"service": s, "method": m} for s, m in IDEMPOTENT_METHODS],
                        "retryPolicy": {
                            "maxAttempts": self.max_attempts,
                            "initialBackoff": f"{self.initial_backoff}s",
                            "maxBackoff": f"{self.max_backoff}s",
                            "backoffMultiplier": self.backoff_multiplier,
                            "retryableStatusCodes": list(self.retryable_codes),
                        },
                    }
                ]
            }
        )


@dataclasses.dataclass(frozen=True)
class Target:
    """Where the client connects, and how."""

    address: str
    """The grpc target: ``host:port`` or ``unix:PATH``."""
    secure: bool
    """TLS when true, plaintext HTTP/2 otherwise."""
    local: bool
    """A loopback or unix-socket address: plaintext is safe there."""


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    # Names other than "localhost" may resolve anywhere (glibc sends *.localhost to DNS), and the
    # bearer token would then cross the network in clear: only these and loopback IPs count.
    if host in ("localhost", "ip6-localhost", "ip6-loopback"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_target(url: str, *, insecure: bool = False) -> Target:
    """Turn a server URL into a grpc target.

    Accepts ``host``, ``host:port``, ``https://host[:port]``, ``http://host:port``,
    ``grpc://`` / ``grpcs://`` and ``unix:PATH``. Loopback and unix targets are plaintext unless
    ``https`` says otherwise; other hosts use TLS unless ``http://`` or ``insecure=True`` asks
    for plaintext, and plaintext to such a host needs ``insecure=True`` because the bearer token
    would travel in clear.

    Raises:
        ValueError: The URL is empty or malformed, or asks for plaintext to a remote host
            without ``insecure=True``.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError("server_url must be a non-empty string such as 'localhost:8081'")
    url = url.strip()
    if url.startswith("unix:"):
        if len(url) <= len("unix:") or url in ("unix://",):
            raise ValueError(f"server_url {url!r} names no socket path")
        return Target(url, secure=False, local=True)

    scheme = ""
    if "://" in url:
        scheme, _, rest = url.partition("://")
        scheme = scheme.lower()
        if scheme not in ("http", "https", "grpc", "grpcs"):
            raise ValueError(f"server_url scheme {scheme!r} is not supported (use https://, http:// or host:port)")
    else:
        rest = url
    try:
        parts = urlsplit(f"//{rest}")
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ValueError(f"server_url {url!r} is not a valid address: {exc}") from None
    if not host or parts.path not in ("", "/") or parts.query or parts.username:
        raise ValueError(f"server_url {url!r} must be host[:port], with no path, query or user")

    local = _is_loopback(host)
    if scheme in ("https", "grpcs"):
        secure = True
    elif scheme in ("http", "grpc"):
        secure = False
    else:
        secure = not (local or insecure)
    if not secure and not local and not insecure:
        raise ValueError(
            f"refusing plaintext to {host}: the bearer token would be sent unencrypted; "
            "use https:// or pass insecure=True if you really mean it"
        )
    if port is None:
        port = 443 if secure else 8081
    shown_host = f"[{host}]" if ":" in host else host
    return Target(f"{shown_host}:{port}", secure=secure, local=local)


@dataclasses.dataclass(frozen=True)
class EnvSettings:
    """What the TIGRIS_* environment variables say; empty ones count as unset."""

    url: str | None = None
    """``TIGRIS_URI``, else ``TIGRIS_URL``."""
    token: str | None = dataclasses.field(default=None, repr=False)
    """``TIGRIS_TOKEN``: a static bearer token."""
    client_id: str | None = None
    """``TIGRIS_CLIENT_ID``."""
    client_secret: str | None = dataclasses.field(default=None, repr=False)
    """``TIGRIS_CLIENT_SECRET``."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EnvSettings:
        """Read the settings from ``env`` (default: ``os.environ``)."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            return env.get(name) or None

        return cls(
            url=get("TIGRIS_URI") or get("TIGRIS_URL"),
            token=get("TIGRIS_TOKEN"),
            client_id=get("TIGRIS_CLIENT_ID"),
            client_secret=get("TIGRIS_CLIENT_SECRET"),
        )


def channel_options(retry: RetryPolicy | None, extra: Sequence[tuple[str, Any]] = ()) -> list[tuple[str, Any]]:
    """grpc channel options for one long-lived client channel."""
    options: list[tuple[str, Any]] = [
        ("grpc.primary_user_agent", USER_AGENT),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        # Come back quickly after a server restart instead of grpc's 1 s..120 s backoff. Not
        # grpc.min_reconnect_backoff_ms: grpc uses it as the minimum connect timeout (default
        # 20 s), and 100 ms would fail every TLS handshake slower than the backoff as UNAVAILABLE.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
        ("grpc.enable_retries", 1 if retry else 0),
    ]
    if retry is not None:
        options.append(("grpc.service_config", retry.service_config()))
    options.extend(extra)
    return options
