"""The REST baseline's server: Tigris's user-metadata REST endpoints over HTTP/1.1, for `bench.py`.

It answers ``POST /v1/management/users/metadata/{metadataKey}/get|insert|update`` with the JSON
bodies the REST SDK exchanges (``{"metadataKey", "userId", "namespaceId", "value"}``, values as
raw JSON). It does the same work per call as the gRPC local server, with the same code: the
bearer token verified by ``TokenAuthority`` (signature, claims and expiry, verified tokens cached),
the caller's namespace resolved, the value read from or written to the same ``Store``. Only the
transport differs: the standard library's threading HTTP server, one thread per keep-alive
connection, so the baseline pays HTTP and JSON costs, not a framework's.

Run by bench.py in its own process (so the client's CPU time is the client's alone), with the
hex-encoded token signing key in the environment (bench.py signs the token it sends)::

    BENCH_REST_KEY=<64 hex digits> python scripts/_rest_baseline.py --port 0

It prints ``listening on HOST:PORT`` once it accepts connections, and stops on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import unquote

from tigris_grpc.server import DEFAULT_NAMESPACE
from tigris_grpc.server._store import Store
from tigris_grpc.server._tokens import TokenAuthority, TokenError

_PREFIX = "/v1/management/users/metadata/"
KEY_ENV = "BENCH_REST_KEY"
_UNAUTHENTICATED = "Request unauthenticated with bearer"


def _handler(tokens: TokenAuthority, store: Store) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as requests.Session uses it
        disable_nagle_algorithm = True  # headers and body go out in separate writes

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                self._send(200, self._serve(body))
            except _Refused as exc:
                error = {"error": {"code": exc.code, "message": exc.message}}
                self._send(exc.status, json.dumps(error, separators=(",", ":")).encode())

        def _serve(self, body: bytes) -> bytes:
            scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise _Refused(401, "UNAUTHENTICATED", _UNAUTHENTICATED)
            try:
                identity = tokens.verify(token.strip())
            except TokenError as exc:
                raise _Refused(401, "UNAUTHENTICATED", f"Failed to validate access token: {exc}") from None
            namespace = store.namespace(identity.namespace)
            if namespace is None:
                raise _Refused(404, "NOT_FOUND", f"namespace '{identity.namespace}' not found")
            key, _, verb = self.path.removeprefix(_PREFIX).rpartition("/")
            key = unquote(key)
            try:
                request = json.loads(body) if body else {}
            except ValueError:
                raise _Refused(400, "INVALID_ARGUMENT", "request body is not JSON") from None
            if not self.path.startswith(_PREFIX) or not key or verb not in ("get", "insert", "update"):
                raise _Refused(404, "NOT_FOUND", "Not Found")
            if not isinstance(request, dict):
                raise _Refused(400, "INVALID_ARGUMENT", "the request body must be a JSON object")
            if verb == "get":
                value = store.get_user(namespace.code, identity.user, key)
            elif "value" not in request:
                raise _Refused(500, "INTERNAL", f"Failed to {verb} user metadata.")
            else:
                value = json.dumps(request["value"], separators=(",", ":")).encode()
                if verb == "update":
                    store.upsert_user(namespace.code, identity.user, key, value)
                elif not store.insert_user(namespace.code, identity.user, key, value):
                    raise _Refused(500, "INTERNAL", "Failed to insert user metadata.")
            # The stored bytes are JSON already: they go into the answer as they are.
            head = {"metadataKey": key, "userId": identity.user, "namespaceId": namespace.code}
            return b'%s,"value":%s}' % (json.dumps(head, separators=(",", ":"))[:-1].encode(), value or b"null")

        def _send(self, status: int, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Silent, as the gRPC server is below DEBUG."""

    return Handler


class _Refused(Exception):
    """An error answer: HTTP status, the gRPC code name and the message, as the REST gateway sends them."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM.

    Args:
        argv: The arguments, without the program name.

    Returns:
        The exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        key = bytes.fromhex(os.environ.get(KEY_ENV, ""))
    except ValueError:
        key = b""
    if len(key) < 32:
        parser.error(f"set {KEY_ENV} to the token signing key, at least 32 bytes in hex")
    store = Store()
    store.ensure_namespace(DEFAULT_NAMESPACE)
    server = ThreadingHTTPServer((args.host, args.port), _handler(TokenAuthority(key), store))
    server.daemon_threads = True

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever, which runs in this (main) thread: do it elsewhere.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening on {args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
