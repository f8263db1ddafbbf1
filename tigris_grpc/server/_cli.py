"""The command line: ``python -m tigris_grpc.server``."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from tigris_grpc.server._app import LocalTigrisServer
from tigris_grpc.server._config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_NAMESPACE,
    ClientCredential,
    ServerConfig,
)

_PROG = "python -m tigris_grpc.server"


def _client(spec: str) -> ClientCredential:
    try:
        return ClientCredential.parse(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser(prog: str = _PROG) -> argparse.ArgumentParser:
    defaults = ServerConfig.__dataclass_fields__
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "A local Tigris-compatible gRPC server: Management, Auth.GetAccessToken and\n"
            "HealthAPI.Health on one port. Prints 'listening on HOST:PORT' when ready;\n"
            "SIGINT/SIGTERM stop it gracefully."
        ),
        epilog=(
            "With no --client, the development credentials are accepted:\n"
            f"  {DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}@{DEFAULT_NAMESPACE}"
        ),
        # Keep the credentials on one line, where they can be copied.
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default=defaults["host"].default, help="default: %(default)s")
    parser.add_argument(
        "--port",
        type=int,
        default=defaults["port"].default,
        help="default: %(default)s; 0 picks a free port",
    )
    parser.add_argument(
        "--client",
        dest="clients",
        metavar="ID:SECRET[@NAMESPACE]",
        type=_client,
        action="append",
        help=(
            "an application allowed to get tokens (repeatable); a namespace that does not exist "
            f"is created; default namespace: {DEFAULT_NAMESPACE}"
        ),
    )
    parser.add_argument(
        "--token-ttl",
        type=int,
        metavar="SECONDS",
        default=defaults["token_ttl"].default,
        help="access token lifetime (default: %(default)s)",
    )
    parser.add_argument(
        "--data",
        metavar="PATH",
        help="persist to this SQLite file (durable across kill -9); default: in memory",
    )
    parser.add_argument(
        "--max-workers",
        type=int,
        metavar="N",
        default=defaults["max_workers"].default,
        help="threads serving calls (default: %(default)s)",
    )
    parser.add_argument(
        "--grace",
        type=float,
        metavar="SECONDS",
        default=5.0,
        help="on SIGINT/SIGTERM, time for in-flight calls to finish (default: %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="log to stderr at this level (default: WARNING); DEBUG logs one line per call",
    )
    return parser


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A Python-level handler only so that the signal does not kill the process; the wakeup fd does the rest."""


@contextmanager
def _stop_signals() -> Iterator[Callable[[], object]]:
    """Yields a function that blocks until SIGINT or SIGTERM arrives; restores the old handlers after.

    The wait is on a socket that the interpreter writes to from its C-level signal handler
    (``signal.set_wakeup_fd``), not on an Event set by a Python handler: a process signal may
    be delivered to one of grpc's threads, which does not interrupt a main thread blocked on a
    lock, and a handler that sets an Event can deadlock a main thread that holds the Event's lock.
    """
    if threading.current_thread() is not threading.main_thread():
        # Signals can only be handled in the main thread; the caller runs until killed.
        yield threading.Event().wait
        return
    receiver, sender = socket.socketpair()
    sender.setblocking(False)
    previous_fd = signal.set_wakeup_fd(sender.fileno(), warn_on_full_buffer=False)
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # recv retries itself when interrupted (PEP 475): it returns once a signal byte is in.
        yield lambda: receiver.recv(1)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(previous_fd)
        receiver.close()
        sender.close()


def main(argv: list[str] | None = None, *, prog: str = _PROG) -> int:
    """Runs the server until SIGINT or SIGTERM.

    Args:
        argv: The arguments (without the program name); ``sys.argv[1:]`` by default.
        prog: The program name shown in help and errors (``tigris-grpc serve`` reuses this CLI).

    Returns:
        The exit status: 0 after a graceful stop, 1 if the server could not start.
    """
    parser = _parser(prog)
    args = parser.parse_args(argv)
    if args.log_level is not None:
        logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = ServerConfig(
            host=args.host,
            port=args.port,
            clients=tuple(args.clients) if args.clients else ServerConfig().clients,
            token_ttl=args.token_ttl,
            data_path=args.data,
            max_workers=args.max_workers,
        )
    except ValueError as exc:
        parser.error(str(exc))
    server = LocalTigrisServer(config)
    with _stop_signals() as wait_for_signal:
        try:
            server.start()
        except (OSError, sqlite3.Error) as exc:  # port in use, unusable --data file
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return 1
        try:
            print(f"listening on {server.url}", flush=True)
            wait_for_signal()
        finally:
            server.stop(args.grace)
    return 0
