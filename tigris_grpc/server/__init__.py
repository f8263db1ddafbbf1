"""A local Tigris-compatible server: for development, tests, demos and benchmarks.

It serves the Management service (namespaces, user and namespace metadata), Auth.GetAccessToken
and HealthAPI.Health on one port, answering exactly as the real Tigris server does (see the
wire contract), in memory or persisted to SQLite.

Run it with ``python -m tigris_grpc.server`` (``--help`` lists the options), or in-process::

    from tigris_grpc.server import LocalTigrisServer, ServerConfig

    with LocalTigrisServer(ServerConfig(port=0)) as server:
        token = server.mint_token("alice")
        ...  # talk to server.url

For pytest, ``tigris_grpc.testing`` provides the ``tigris_server`` fixture.
"""

from tigris_grpc.server._app import LocalTigrisServer
from tigris_grpc.server._cli import main
from tigris_grpc.server._config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_NAMESPACE,
    ClientCredential,
    ServerConfig,
)

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_NAMESPACE",
    "ClientCredential",
    "LocalTigrisServer",
    "ServerConfig",
    "main",
]
