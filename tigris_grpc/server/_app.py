"""Building, running and stopping the local server."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType

import grpc

from tigris_grpc._limits import MAX_MESSAGE_BYTES
from tigris_grpc._pb import auth_pb2_grpc, health_pb2_grpc, management_pb2_grpc
from tigris_grpc.server._config import DEFAULT_NAMESPACE, ServerConfig
from tigris_grpc.server._service import AuthService, HealthService, ManagementService
from tigris_grpc.server._store import Store
from tigris_grpc.server._tokens import TokenAuthority

_log = logging.getLogger("tigris_grpc.server")

_SERVER_OPTIONS = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # Without this, two servers could silently share a port and split the calls between them.
    ("grpc.so_reuseport", 0),
)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Running:
    """What exists only while the server runs."""

    def __init__(self, server: grpc.Server, executor: ThreadPoolExecutor, store: Store, port: int) -> None:
        self.server = server
        self.executor = executor
        self.store = store
        self.port = port


class LocalTigrisServer:
    """A Tigris-compatible server (Management, Auth.GetAccessToken, Health) in this process.

    It serves on grpc's thread-pool server, which answers small calls about twice as fast as
    grpc.aio on a small machine. Use it as a context manager::

        with LocalTigrisServer(ServerConfig(port=0)) as server:
            channel = grpc.insecure_channel(server.url)
    """

    def __init__(self, config: ServerConfig | None = None) -> None:
        """Creates the server; nothing is opened or bound until :meth:`start`.

        Args:
            config: The configuration; defaults to ``ServerConfig()`` (port 8081, in memory,
                the development credentials).
        """
        self._config = config if config is not None else ServerConfig()
        self._lock = threading.Lock()
        self._running: _Running | None = None
        self._tokens: TokenAuthority | None = None

    @property
    def config(self) -> ServerConfig:
        """The configuration the server was created with."""
        return self._config

    @property
    def port(self) -> int:
        """The bound port (useful with port 0).

        Raises:
            RuntimeError: If the server is not running.
        """
        return self._require().port

    @property
    def url(self) -> str:
        """``host:port`` to pass to ``grpc.insecure_channel`` (``[host]:port`` for IPv6)."""
        return _hostport(self._config.host, self.port)

    @property
    def client_id(self) -> str:
        """The first configured client id (the development one by default)."""
        return self._config.clients[0].client_id

    @property
    def client_secret(self) -> str:
        """The secret of :attr:`client_id`."""
        return self._config.clients[0].client_secret

    def start(self) -> int:
        """Opens the store, binds and starts serving.

        Returns:
            The bound port.

        Raises:
            RuntimeError: If the server is already running.
            OSError: If the address cannot be bound (for example, the port is in use).
        """
        with self._lock:
            if self._running is not None:
                raise RuntimeError("the server is already running")
            config = self._config
            store = Store(config.data_path)
            try:
                for client in config.clients:
                    store.ensure_namespace(client.namespace)
                tokens = TokenAuthority(store.signing_key())
                executor = ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="tigris-server")
                server = grpc.server(executor, options=_SERVER_OPTIONS)
                management_pb2_grpc.add_ManagementServicer_to_server(ManagementService(store, tokens), server)
                auth_pb2_grpc.add_AuthServicer_to_server(AuthService(config.clients, tokens, config.token_ttl), server)
                health_pb2_grpc.add_HealthAPIServicer_to_server(HealthService(), server)
                address = _hostport(config.host, config.port)
                try:
                    port = server.add_insecure_port(address)
                except RuntimeError as exc:  # grpc reports a failed bind this way
                    port = 0
                    cause: BaseException | None = exc
                else:
                    cause = None
                if port == 0:
                    executor.shutdown(wait=False)
                    raise OSError(f"cannot listen on {address} (is the port in use?)") from cause
                server.start()
            except BaseException:
                store.close()
                raise
            self._running = _Running(server, executor, store, port)
            self._tokens = tokens
        _log.info("listening on %s", _hostport(config.host, port))
        return port

    def stop(self, grace: float | None = 5.0) -> None:
        """Stops serving; calls in flight get ``grace`` seconds to finish, then the store closes.

        Does nothing if the server is not running.

        Args:
            grace: Seconds to let in-flight calls finish; ``None`` cancels them at once.
        """
        with self._lock:
            running, self._running = self._running, None
            if running is None:
                return
            running.server.stop(grace).wait()
            # Handlers of calls cancelled at the end of the grace may still be running: let them
            # finish before the store goes away under them.
            running.executor.shutdown(wait=True)
            running.store.close()
        _log.info("stopped")

    def mint_token(self, user: str, namespace: str = DEFAULT_NAMESPACE, ttl: int | None = None) -> str:
        """Signs an access token directly, as GetAccessToken would, for any user and namespace.

        Args:
            user: The ``sub`` claim (the user id metadata is kept under).
            namespace: The namespace id for the ``nc`` claim. It need not exist; calls with a
                token naming a missing namespace are answered NOT_FOUND.
            ttl: Lifetime in seconds; defaults to ``config.token_ttl``. Zero or negative gives
                an already expired token.

        Returns:
            The encoded JWT, to send as ``authorization: Bearer <token>``.

        Raises:
            RuntimeError: If the server is not running (the signing key lives in the store).
        """
        self._require()
        assert self._tokens is not None  # set together with _running
        return self._tokens.issue(user, namespace, self._config.token_ttl if ttl is None else ttl)

    def __enter__(self) -> LocalTigrisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"url={self.url!r}" if self._running is not None else "stopped"
        return f"<LocalTigrisServer {state}>"

    def _require(self) -> _Running:
        running = self._running
        if running is None:
            raise RuntimeError("the server is not running; call start() first")
        return running
