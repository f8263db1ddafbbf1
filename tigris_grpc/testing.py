"""Test helpers: a local Tigris server in your own tests.

Installed as a pytest plugin (entry point ``pytest11``), so the ``tigris_server`` fixture is
available to every test without imports::

    def test_my_app(tigris_server):
        app = MyApp(
            tigris_url=tigris_server.url,  # "127.0.0.1:PORT", plaintext
            client_id=tigris_server.client_id,
            client_secret=tigris_server.client_secret,
        )
        token = tigris_server.mint_token("alice")  # or act as any user directly

Outside pytest, use :func:`local_tigris`. The server is imported only when one starts, so
pytest starts even where it cannot; pytest itself is optional (no fixture without it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tigris_grpc.server import LocalTigrisServer

__all__ = ["local_tigris", "tigris_server"]


@contextmanager
def local_tigris(**config_overrides: Any) -> Iterator[LocalTigrisServer]:
    """Runs a local Tigris server in this process for the duration of the ``with`` block.

    It listens on 127.0.0.1 on a free port and keeps its data in memory, unless overridden.

    Args:
        **config_overrides: Fields of :class:`tigris_grpc.server.ServerConfig` (``clients``,
            ``token_ttl``, ``data_path``, ...).

    Yields:
        The running server; see its ``url``, ``client_id``, ``client_secret`` and
        ``mint_token(user, namespace=..., ttl=...)``.
    """
    from tigris_grpc.server import LocalTigrisServer, ServerConfig  # noqa: PLC0415  # lazy

    config = ServerConfig(**{"host": "127.0.0.1", "port": 0, **config_overrides})
    with LocalTigrisServer(config) as server:
        yield server


try:
    import pytest
except ImportError:  # pragma: no cover  # the fixture only matters under pytest
    pass
else:

    @pytest.fixture
    def tigris_server() -> Iterator[LocalTigrisServer]:
        """A fresh local Tigris server (empty, in memory) for one test."""
        with local_tigris() as server:
            yield server
