"""The ``tigris-grpc`` command line: metadata, namespaces, tokens, health and the local server.

Results are JSON on stdout. Failures are one line on stderr: ``error: <status> <CODE>: <message>``
with exit status 1 for an error the server (or the connection) reported, and
``<prog>: error: <message>`` with exit status 2 for a usage error, caught before any call.
Nothing prints a secret except ``token``, which is asked for one.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from tigris_grpc._client import Tigris
from tigris_grpc._config import EnvSettings
from tigris_grpc._errors import SDKError
from tigris_grpc._version import __version__

PROG = "tigris-grpc"

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C

#: The connection options, by destination; each defaults to argparse.SUPPRESS (see _connection_parent).
_CONNECTION_DESTS = ("url", "token", "client_id", "client_secret", "timeout", "insecure")

_Run = Callable[[Tigris, argparse.Namespace], Any]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``<prog>: error: <message>`` and exit with status 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {_one_line(message)} (see '{self.prog} --help')\n")


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _connection_parent() -> _Parser:
    """The connection options, shared by the top-level parser and every client command.

    Their defaults are SUPPRESS: an option absent at one level leaves no attribute there, so a
    value given before the command survives a subcommand parser that did not see it, and a value
    given after the command (parsed last) wins.
    """
    parent = _Parser(add_help=False)
    group = parent.add_argument_group(
        "connection options (before or after the command; unset ones come from TIGRIS_* variables)"
    )
    group.add_argument(
        "--url",
        default=argparse.SUPPRESS,
        help="server: host[:port], https://host or http://localhost:8081 "
        "(default: $TIGRIS_URI or $TIGRIS_URL, else the hosted service)",
    )
    group.add_argument("--token", default=argparse.SUPPRESS, help="a bearer token (default: $TIGRIS_TOKEN)")
    group.add_argument(
        "--client-id",
        metavar="ID",
        default=argparse.SUPPRESS,
        help="client id to get tokens with (default: $TIGRIS_CLIENT_ID)",
    )
    group.add_argument(
        "--client-secret",
        metavar="SECRET",
        default=argparse.SUPPRESS,
        help="its secret (default: $TIGRIS_CLIENT_SECRET, which is safer: other users can see arguments)",
    )
    group.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        default=argparse.SUPPRESS,
        help="deadline of each call (default: 10)",
    )
    group.add_argument(
        "--insecure",
        action="store_true",
        default=argparse.SUPPRESS,
        help="allow plaintext to a host that is not loopback",
    )
    return parent


# --- Commands ------------------------------------------------------------------------------------


def _value(args: argparse.Namespace) -> Any:
    """The JSON argument (or stdin, for ``-``), decoded."""
    text = sys.stdin.read() if args.json == "-" else args.json
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # The text itself is not repeated: it may be sensitive.
        source = "stdin" if args.json == "-" else "JSON"
        args.parser.error(
            f"{source} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            """a string needs JSON quotes, e.g. '"dark"'"""
        )


def _user_get(client: Tigris, args: argparse.Namespace) -> Any:
    return client.user.get_metadata(metadata_key=args.key).get_user_metadata_response


def _user_insert(client: Tigris, args: argparse.Namespace) -> Any:
    return client.user.insert_metadata(metadata_key=args.key, value=_value(args)).insert_user_metadata_response


def _user_update(client: Tigris, args: argparse.Namespace) -> Any:
    return client.user.update_metadata(metadata_key=args.key, value=_value(args)).update_user_metadata_response


def _namespace_get(client: Tigris, args: argparse.Namespace) -> Any:
    return client.namespace.get_metadata(metadata_key=args.key).get_namespace_metadata_response


def _namespace_insert(client: Tigris, args: argparse.Namespace) -> Any:
    response = client.namespace.insert_metadata(metadata_key=args.key, value=_value(args))
    return response.insert_namespace_metadata_response


def _namespace_update(client: Tigris, args: argparse.Namespace) -> Any:
    response = client.namespace.update_metadata(metadata_key=args.key, value=_value(args))
    return response.update_namespace_metadata_response


def _namespace_create(client: Tigris, args: argparse.Namespace) -> Any:
    return client.namespace.create(name=args.name, id=args.id, code=args.code).create_namespace_response


def _namespace_list(client: Tigris, args: argparse.Namespace) -> Any:
    body = client.namespace.list(namespace_id=args.namespace_id).list_namespaces_response
    return (body.namespaces if body else None) or []


def _namespace_describe(client: Tigris, args: argparse.Namespace) -> Any:
    body = client.namespace.get(namespace_id=args.namespace_id).describe_namespaces_response
    details = body.data.details if body and body.data else None
    if not details:
        return None
    try:
        return json.loads(details)
    except ValueError:
        return details  # not JSON after all: show the text rather than lose it


def _namespace_delete(client: Tigris, args: argparse.Namespace) -> Any:
    return client.namespace.delete(args.namespace_id).delete_namespace_response


def _token(client: Tigris, args: argparse.Namespace) -> Any:
    body = client.auth.get_access_token().get_access_token_response
    return {"access_token": body.access_token, "expires_in": body.expires_in} if body else None


def _health(client: Tigris, args: argparse.Namespace) -> Any:
    client.health()  # raises SDKError unless the server answers OK
    return {"status": "OK"}


# --- Parser --------------------------------------------------------------------------------------


def _command(
    group: argparse._SubParsersAction[_Parser],
    parent: _Parser,
    name: str,
    run: _Run,
    help_text: str,
) -> _Parser:
    parser = group.add_parser(name, parents=[parent], help=help_text, description=help_text)
    parser.set_defaults(run=run, parser=parser)
    return parser


def _metadata_commands(
    group: argparse._SubParsersAction[_Parser],
    parent: _Parser,
    scope: str,
    runs: tuple[_Run, _Run, _Run],
) -> None:
    get, insert, update = runs
    key_help = "the metadata key"
    json_help = "the value as JSON (e.g. '{\"dark\": true}' or '\"text\"'); - reads it from stdin"
    _command(group, parent, "get", get, f"read a {scope} metadata key (value null when it has none)").add_argument(
        "key", metavar="KEY", help=key_help
    )
    for name, run, text in (
        ("insert", insert, f"store a new {scope} metadata key (an existing key is an error)"),
        ("update", update, f"store a {scope} metadata key's value, creating the key if missing"),
    ):
        command = _command(group, parent, name, run, text)
        command.add_argument("key", metavar="KEY", help=key_help)
        command.add_argument("json", metavar="JSON", help=json_help)


def build_parser() -> _Parser:
    """The ``tigris-grpc`` argument parser (``serve`` takes its options from the server's parser)."""
    connection = _connection_parent()
    parser = _Parser(
        prog=PROG,
        parents=[connection],
        description="Tigris Management API from a shell: results are JSON on stdout; errors are one line\n"
        "on stderr with exit status 1 (2 for usage errors). --help works on every command.",
        epilog="examples:\n"
        "  tigris-grpc serve --port 8081 &\n"
        "  export TIGRIS_URL=localhost:8081 TIGRIS_CLIENT_ID=tigris-local TIGRIS_CLIENT_SECRET=tigris-local-secret\n"
        "  tigris-grpc user insert theme '{\"dark\": true}'\n"
        "  tigris-grpc user get theme --url localhost:8081\n"
        "  echo '[1, 2]' | tigris-grpc namespace update shared -",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    user = commands.add_parser(
        "user",
        parents=[connection],
        help="user metadata: get, insert, update",
        description="User metadata: one JSON value per key, private to the user the token names.",
    )
    _metadata_commands(
        user.add_subparsers(dest="action", metavar="ACTION", required=True),
        connection,
        "user",
        (_user_get, _user_insert, _user_update),
    )

    namespace = commands.add_parser(
        "namespace",
        parents=[connection],
        help="namespace metadata, and namespaces themselves",
        description="Namespace metadata (shared by everyone in the token's namespace) and namespaces.",
    )
    actions = namespace.add_subparsers(dest="action", metavar="ACTION", required=True)
    _metadata_commands(actions, connection, "namespace", (_namespace_get, _namespace_insert, _namespace_update))
    create = _command(actions, connection, "create", _namespace_create, "create a namespace")
    create.add_argument("name", metavar="NAME", help="its display name")
    create.add_argument("--id", help="its string id (default: chosen by the server)")
    create.add_argument("--code", type=int, metavar="N", help="its numeric code (default: the next free one)")
    for name, run, text in (
        ("list", _namespace_list, "list namespaces (a JSON array of {code, id, name})"),
        ("describe", _namespace_describe, "describe namespaces (the server's details document)"),
    ):
        command = _command(actions, connection, name, run, text)
        command.add_argument("namespace_id", metavar="ID", nargs="?", help="only this namespace")
    delete = _command(actions, connection, "delete", _namespace_delete, "delete a namespace and all its metadata")
    delete.add_argument("namespace_id", metavar="ID", help="the namespace's string id")

    _command(
        commands,
        connection,
        "token",
        _token,
        "print an access token for the client credentials "
        "(--client-id/--client-secret or TIGRIS_CLIENT_ID/TIGRIS_CLIENT_SECRET)",
    )
    _command(commands, connection, "health", _health, "check that the server is serving")
    # The server's own parser handles serve's options (they are passed through untouched), so
    # `tigris-grpc serve` and `python -m tigris_grpc.server` cannot drift apart.
    commands.add_parser(
        "serve",
        add_help=False,
        help="run the local Tigris server (the options of python -m tigris_grpc.server; see serve --help)",
    )
    return parser


# --- Running -------------------------------------------------------------------------------------


def _make_client(args: argparse.Namespace) -> Tigris:
    """A client from the connection options; Tigris reads the TIGRIS_* variables for the rest."""
    options = vars(args)
    client_id, client_secret = options.get("client_id"), options.get("client_secret")
    if (client_id is None) != (client_secret is None):
        # One half on the command line (typically the id), the other from the environment (the secret).
        env = EnvSettings.from_env()
        client_id = client_id if client_id is not None else env.client_id
        client_secret = client_secret if client_secret is not None else env.client_secret
    kwargs: dict[str, Any] = {}
    if "timeout" in options:
        kwargs["timeout"] = options["timeout"]
    return Tigris(
        options.get("token"),
        server_url=options.get("url"),
        client_id=client_id,
        client_secret=client_secret,
        insecure=options.get("insecure", False),
        **kwargs,
    )


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _print_json(result: Any) -> None:

    def undecodable(value: object) -> str:
        # A value another client stored as non-JSON bytes comes back as bytes: show it as text.
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="backslashreplace")
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    print(json.dumps(_plain(result), indent=2, ensure_ascii=False, default=undecodable), flush=True)


def _run(argv: list[str]) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if args.command == "serve":
        given = [f"--{dest.replace('_', '-')}" for dest in _CONNECTION_DESTS if dest in vars(args)]
        if given:
            parser.error(f"serve takes no connection options ({', '.join(given)})")
        from tigris_grpc.server import main as serve  # noqa: PLC0415 - only serve needs the server

        return serve(extras, prog=f"{PROG} serve")
    if extras:
        # Only option names are repeated: a stray value may be a secret (say, a mistyped --token).
        shown = [arg for arg in extras if arg.startswith("-") and arg != "-"] or [f"{len(extras)} value(s)"]
        args.parser.error(f"unrecognized arguments: {' '.join(shown)}")
    run: _Run = args.run
    try:
        with _make_client(args) as client:
            result = run(client, args)
    except SDKError as exc:
        print(f"error: {exc.status_code} {exc.code or 'UNKNOWN'}: {_one_line(exc.message)}", file=sys.stderr)
        return EXIT_ERROR
    except (ValueError, TypeError) as exc:  # the client's validation, before any call
        args.parser.error(str(exc))
    _print_json(result)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tigris-grpc``.

    Args:
        argv: The arguments without the program name; default ``sys.argv[1:]``.

    Returns:
        The exit status: 0 on success, 1 when the server or the connection reported an error,
        2 for a usage error (argparse exits with 2 itself), 130 on Ctrl-C.
    """
    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python's final flush from complaining.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
