"""The REST baseline's server: Tigris's user-metadata REST endpoints over HTTP/1.1, for `bench.py`.

It answers ``POST /v1/management/users/metadata/{metadataKey}/get|insert|update`` with the JSON
bodies the REST SDK exchanges (``{"metadataKey", "userId", "namespaceId", "value"}``, values as
raw JSON), after checking ``Authorization: Bearer <token>``, keeping values in memory, the way
the gRPC local server keeps them. It uses only the standard library's threading HTTP server,
one thread per keep-alive connection, so the baseline pays HTTP and JSON costs, not a framework's.

Run by bench.py in its own process (so the client's CPU time is the client's alone)::

    BENCH_REST_TOKEN=<token> python scripts/_rest_baseline.py --port 0 --user <sub>

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

_PREFIX = "/v1/management/users/metadata/"
_NAMESPACE_ID = 1  # default_namespace, as the gRPC server answers with isolation off
TOKEN_ENV = "BENCH_REST_TOKEN"


class _Store:
    """One user's metadata: key -> decoded JSON value."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.lock = threading.Lock()


def _handler(expected_auth: str, user: str, store: _Store) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as requests.Session uses it
        disable_nagle_algorithm = True  # headers and body go out in separate writes

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.headers.get("Authorization") != expected_auth:
                self._answer(401, _error("UNAUTHENTICATED", "Request unauthenticated with bearer"))
                return
            if not self.path.startswith(_PREFIX):
                self._answer(404, _error("NOT_FOUND", "Not Found"))
                return
            key, _, verb = self.path[len(_PREFIX) :].rpartition("/")
            key = unquote(key)
            try:
                request = json.loads(body) if body else {}
            except ValueError:
                self._answer(400, _error("INVALID_ARGUMENT", "request body is not JSON"))
                return
            if not key or not isinstance(request, dict) or verb not in ("get", "insert", "update"):
                self._answer(400, _error("INVALID_ARGUMENT", "bad request"))
                return
            with store.lock:
                if verb == "get":
                    value = store.values.get(key)
                elif "value" not in request:
                    self._answer(500, _error("INTERNAL", f"Failed to {verb} user metadata."))
                    return
                elif verb == "insert" and key in store.values:
                    self._answer(500, _error("INTERNAL", "Failed to insert user metadata."))
                    return
                else:
                    value = store.values[key] = request["value"]
            answer = {"metadataKey": key, "userId": user, "namespaceId": _NAMESPACE_ID, "value": value}
            self._answer(200, answer)

        def _answer(self, status: int, payload: object) -> None:
            data = json.dumps(payload, separators=(",", ":")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: a line per request would dominate the baseline's cost."""

    return Handler


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


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
    parser.add_argument("--user", default="bench-user", help="the userId to answer with")
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_ENV)
    if not token:
        parser.error(f"set {TOKEN_ENV} to the bearer token to accept")
    server = ThreadingHTTPServer((args.host, args.port), _handler(f"Bearer {token}", args.user, _Store()))
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
