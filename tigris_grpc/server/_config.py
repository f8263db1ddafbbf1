"""Configuration of the local Tigris server."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

#: Client id of the development credentials used when no client is configured.
DEFAULT_CLIENT_ID = "tigris-local"
#: Client secret of the development credentials used when no client is configured.
DEFAULT_CLIENT_SECRET = "tigris-local-secret"  # a documented development secret
#: The namespace that always exists, with numeric code 1 (as on the real server).
DEFAULT_NAMESPACE = "default_namespace"

# NamespaceInfo.code and GetAccessTokenResponse.expires_in are int32 on the wire.
_INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class ClientCredential:
    """An application allowed to obtain tokens with ``Auth/GetAccessToken``."""

    client_id: str
    """The ``client_id`` of the CLIENT_CREDENTIALS grant; it becomes the token's ``sub``."""

    client_secret: str = field(repr=False)
    """The matching ``client_secret``; never shown in reprs or logs."""

    namespace: str = DEFAULT_NAMESPACE
    """Id of the namespace the client's tokens name (claim ``https://tigris`` ``nc``).

    Created at start-up, with the next free code, if it does not exist yet.
    """

    def __post_init__(self) -> None:
        for name in ("client_id", "client_secret", "namespace"):
            if not getattr(self, name):
                raise ValueError(f"ClientCredential.{name} must not be empty")

    @classmethod
    def parse(cls, spec: str) -> ClientCredential:
        """Parses the CLI form ``ID:SECRET[@NAMESPACE]``.

        The first ``:`` ends the id and the last ``@`` starts the namespace, so a secret may
        contain ``:`` but not ``@``.

        Args:
            spec: The credential as given to ``--client``.

        Returns:
            The credential.

        Raises:
            ValueError: If a part is missing.
        """
        client_id, sep, rest = spec.partition(":")
        if not sep:
            raise ValueError(f"expected ID:SECRET[@NAMESPACE], got {client_id!r}:<no secret>")
        secret, at, namespace = rest.rpartition("@")
        if not at:
            secret, namespace = rest, DEFAULT_NAMESPACE
        return cls(client_id, secret, namespace)


def _default_clients() -> tuple[ClientCredential, ...]:
    return (ClientCredential(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),)


@dataclass(frozen=True)
class ServerConfig:
    """Everything the local server needs; ``python -m tigris_grpc.server`` builds one from argv."""

    host: str = "127.0.0.1"
    """Interface to listen on (``0.0.0.0`` or ``::`` for all)."""

    port: int = 8081
    """TCP port; 8081 like the real server, 0 picks a free one (see ``LocalTigrisServer.start``)."""

    clients: tuple[ClientCredential, ...] = field(default_factory=_default_clients)
    """Applications that may call ``GetAccessToken``; the development pair by default."""

    token_ttl: int = 86400
    """Lifetime of issued access tokens in seconds (the ``expires_in`` answer)."""

    data_path: str | os.PathLike[str] | None = None
    """SQLite file to persist to (WAL, synchronous=FULL); ``None`` keeps everything in memory."""

    max_workers: int = 2
    """Threads serving calls. Under the GIL more threads only add contention: on a 2-core
    machine 2 answered about 1.5x the calls/s of 16, and one call never waits for another's I/O
    for long (the store is one lock-guarded SQLite connection)."""

    def __post_init__(self) -> None:
        # Accept any iterable (a list from argparse) but store the immutable tuple.
        object.__setattr__(self, "clients", tuple(self.clients))
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if not 0 < self.token_ttl <= _INT32_MAX:
            raise ValueError(f"token_ttl must be in 1..{_INT32_MAX} seconds, got {self.token_ttl}")
        if self.max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {self.max_workers}")
        if not self.clients:
            raise ValueError("at least one client credential is needed")
        ids = [c.client_id for c in self.clients]
        if len(set(ids)) != len(ids):
            raise ValueError("client ids must be unique")
