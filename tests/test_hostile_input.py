"""Hostile input, property-based: whatever callers pass, the client raises only ValueError,
TypeError or SDKError, never hangs, and never sends the server a request it must refuse.

The client talks to a recording server that answers every path with an empty OK and keeps the
raw request bytes; each test then decodes every request with the generated classes and checks
it against the real server's limits. The local server, in turn, must survive malformed protobuf
bytes and junk metadata sent on a raw channel.

Each test reports how many examples it tried (junit property ``examples``; printed with -s).
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf.message import DecodeError, Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tigris_grpc import SDKError, Tigris
from tigris_grpc._limits import MAX_KEY_BYTES, MAX_VALUE_BYTES
from tigris_grpc._ops import decode_value
from tigris_grpc._pb import auth_pb2, health_pb2, management_pb2
from tigris_grpc.models import operations, shared
from tigris_grpc.server import LocalTigrisServer

TOKEN = "hostile-input-token"
ALLOWED = (ValueError, TypeError, SDKError)
MGMT = "/tigrisdata.management.v1.Management/"
_MGMT_METHODS = (
    "CreateNamespace",
    "ListNamespaces",
    "DeleteNamespace",
    "InsertUserMetadata",
    "GetUserMetadata",
    "UpdateUserMetadata",
    "InsertNamespaceMetadata",
    "GetNamespaceMetadata",
    "UpdateNamespaceMetadata",
)
REQUEST_TYPES: dict[str, type[Message]] = {
    **{f"{MGMT}{name}": getattr(management_pb2, f"{name}Request") for name in _MGMT_METHODS},
    "/tigrisdata.auth.v1.Auth/GetAccessToken": auth_pb2.GetAccessTokenRequest,
    "/HealthAPI/Health": health_pb2.HealthCheckInput,
}
# Calls cross the network and some values are 100 kB: time is bounded by example counts instead.
_BASE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- The recording server ----------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One call as the server received it."""

    method: str
    request: bytes
    metadata: tuple[tuple[str, str | bytes], ...]


class Recorder(grpc.GenericRpcHandler):
    """Answers any path with an empty OK message and records what arrived."""

    def __init__(self) -> None:
        self.calls: list[Received] = []
        self._checked = 0
        self._lock = threading.Lock()

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[bytes, bytes]:
        method: str = handler_call_details.method

        def answer(request: bytes, context: grpc.ServicerContext) -> bytes:
            with self._lock:
                self.calls.append(Received(method, request, tuple(context.invocation_metadata())))
            return b""

        return grpc.unary_unary_rpc_method_handler(answer)

    def check_new(self, *, json_values: bool = True) -> int:
        """Check every request received since the last check; returns how many there were."""
        with self._lock:
            new, self._checked = self.calls[self._checked :], len(self.calls)
        for call in new:
            check_request(call, json_values=json_values)
        return len(new)


def check_request(call: Received, *, json_values: bool) -> None:
    """Fail unless the real server would accept this request's fields."""
    assert call.method in REQUEST_TYPES, f"unknown path {call.method}"
    message: Any = REQUEST_TYPES[call.method].FromString(call.request)
    name = call.method.rpartition("/")[2]
    if name.endswith("Metadata"):
        key: str = message.metadataKey
        assert key, f"{name}: empty metadataKey reached the server"
        assert len(key.encode()) <= MAX_KEY_BYTES, f"{name}: a {len(key.encode())}-byte key reached the server"
        if not name.startswith("Get"):
            value: bytes = message.value
            assert value, f"{name}: empty value reached the server"
            assert len(value) <= MAX_VALUE_BYTES, f"{name}: a {len(value)}-byte value reached the server"
            if json_values:
                strict_json(value)
    elif name == "CreateNamespace":
        assert message.name, "CreateNamespace without a name reached the server"
        assert len(message.name.encode()) <= MAX_KEY_BYTES
        assert message.code < 2**31, "a namespace code over int32 reached the server"
    elif name == "DeleteNamespace":
        assert message.namespace_id, "DeleteNamespace without an id reached the server"
    auth = [value for key, value in call.metadata if key == "authorization"]
    assert len(auth) <= 1, f"{len(auth)} authorization headers sent"


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def strict_json(data: bytes) -> object:
    """Parse as standard JSON: Python's parser also takes NaN and Infinity, which others refuse."""
    return json.loads(data, parse_constant=_no_constants)


@dataclass
class Rig:
    """The recorder and a client pointed at it."""

    recorder: Recorder
    client: Tigris


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    recorder = Recorder()
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((recorder,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    client = Tigris(TOKEN, server_url=f"127.0.0.1:{port}", timeout=5.0)
    try:
        yield Rig(recorder, client)
    finally:
        client.close()
        server.stop(None).wait()


def _run(record_property: Callable[[str, object], None], name: str, examples: int, reached: int) -> None:
    record_property("examples", examples)
    record_property("requests_reaching_the_server", reached)
    print(f"\n{name}: {examples} examples, {reached} requests reached the server")


def _call(fn: Callable[..., object], *args: Any, **kwargs: Any) -> BaseException | None:
    """Call ``fn``; return the allowed exception it raised (anything else propagates)."""
    try:
        fn(*args, **kwargs)
    except ALLOWED as exc:
        return exc
    return None


# --- Strategies ----------------------------------------------------------------------------------

SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
TEXT = st.one_of(
    st.text(max_size=30),
    st.text(st.characters(exclude_categories=()), max_size=30),  # every code point, surrogates too
    st.builds(lambda a, s, b: a + s + b, st.text(max_size=5), SURROGATE, st.text(max_size=5)),
)


def near_limit(limit: int, overhead: int = 0) -> st.SearchStrategy[str]:
    """Strings of 1- to 4-byte characters a few characters either side of ``limit`` UTF-8 bytes."""
    return st.builds(
        lambda ch, extra: ch * ((limit - overhead) // len(ch.encode()) + extra),
        st.sampled_from(["k", "é", "€", "😀"]),
        st.integers(-2, 2),
    )


NON_STR = st.one_of(
    st.integers(),
    st.binary(max_size=10),
    st.none(),
    st.lists(st.text(max_size=3), max_size=3),
    st.floats(),
    st.booleans(),
    st.builds(object),
    st.tuples(st.text(max_size=3)),
)
KEYS = st.one_of(TEXT, st.just(""), near_limit(MAX_KEY_BYTES), st.just("k" * 1_000_000), NON_STR)

_NOT_JSON = st.one_of(
    st.binary(max_size=10),
    st.builds(object),
    st.complex_numbers(),
    st.integers(4_300, 5_000).map(lambda digits: 10**digits),  # past the int-to-str digit limit
    st.decimals(),
    st.sets(st.integers(), max_size=3),
    st.frozensets(st.text(max_size=3), max_size=3),
    st.just(Ellipsis),
    st.dates(),
)
_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT, _NOT_JSON)
_DICT_KEYS = st.one_of(TEXT, st.integers(), st.floats(), st.booleans(), st.none(), st.tuples(st.integers()))
NESTED = st.recursive(
    _LEAF,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(_DICT_KEYS, children, max_size=4),
    ),
    max_leaves=12,
)


def _deep(depth: int, kind: str) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


_HUGE = st.one_of(
    st.builds(_deep, st.integers(1, 5_000), st.sampled_from(["list", "dict"])),
    near_limit(MAX_VALUE_BYTES, overhead=2),  # a JSON string: two quotes around it
    st.builds(lambda n: list(range(n)), st.integers(15_000, 30_000)),  # large and not a string
)
# Mostly small values: a 100 kB example costs a hundred small ones.
VALUES = st.integers(0, 7).flatmap(lambda i: _HUGE if i == 0 else NESTED)
TIMEOUTS = st.one_of(
    st.none(),
    st.floats(),
    st.integers(),
    st.text(max_size=4),
    st.booleans(),
    st.binary(max_size=3),
    st.lists(st.integers(), max_size=2),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), -1, 0, 0.0, -0.0, 1e-300, 1e300, 2**64]),
    st.decimals(allow_nan=True),
    st.fractions(),
)
_META_KEYS = st.one_of(
    st.sampled_from(["x-request-id", "X-Upper", "a b", "", ":path", "x-trace-bin", "grpc-timeout", "te", "user-agent"]),
    st.text(max_size=6),
    st.integers(),
    st.binary(max_size=4),
    st.none(),
)
_META_VALUES = st.one_of(
    st.text(max_size=10), TEXT, st.binary(max_size=10), st.just("a" * 20_000), st.integers(), st.none()
)
METADATA = st.one_of(
    st.none(),
    st.lists(st.tuples(_META_KEYS, _META_VALUES), max_size=4),
    st.lists(st.lists(_META_VALUES, max_size=3), max_size=3),
    st.text(max_size=4),
    st.integers(),
    st.binary(max_size=4),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=3),
    st.lists(st.tuples(st.text(max_size=2), st.text(max_size=2), st.text(max_size=2)), max_size=2),
    st.builds(object),
)

READS = [("user", "get_metadata"), ("namespace", "get_metadata")]
WRITES = [
    ("user", "insert_metadata"),
    ("user", "update_metadata"),
    ("namespace", "insert_metadata"),
    ("namespace", "update_metadata"),
]


def _method(client: Tigris, scope: str, name: str) -> Callable[..., object]:
    method: Callable[..., object] = getattr(getattr(client, scope), name)
    return method


# --- The client ------------------------------------------------------------------------------------


def test_hostile_keys(rig: Rig, record_property: Callable[[str, object], None]) -> None:
    examples = 0

    @settings(_BASE, max_examples=2000)
    @given(method=st.sampled_from(READS + WRITES), key=KEYS)
    def run(method: tuple[str, str], key: Any) -> None:
        nonlocal examples
        examples += 1
        fn = _method(rig.client, *method)
        if method in READS:
            _call(fn, metadata_key=key)
        else:
            _call(fn, metadata_key=key, value={"ok": True})
        rig.recorder.check_new()

    reached = len(rig.recorder.calls)
    run()
    _run(record_property, "keys", examples, len(rig.recorder.calls) - reached)


def test_hostile_values(rig: Rig, record_property: Callable[[str, object], None]) -> None:
    examples = 0

    @settings(_BASE, max_examples=2000)
    @given(method=st.sampled_from(WRITES), value=VALUES)
    def run(method: tuple[str, str], value: Any) -> None:
        nonlocal examples
        examples += 1
        _call(_method(rig.client, *method), metadata_key="k", value=value)
        rig.recorder.check_new()

    reached = len(rig.recorder.calls)
    run()
    _run(record_property, "values", examples, len(rig.recorder.calls) - reached)


def test_hostile_timeouts_and_metadata(rig: Rig, record_property: Callable[[str, object], None]) -> None:
    examples = 0
    calls: dict[str, Callable[..., object]] = {
        "user.get": lambda **kw: rig.client.user.get_metadata(metadata_key="k", **kw),
        "user.update": lambda **kw: rig.client.user.update_metadata(metadata_key="k", value=1, **kw),
        "namespace.insert": lambda **kw: rig.client.namespace.insert_metadata(metadata_key="k", value=[1], **kw),
        "namespace.list": rig.client.namespace.list,
        "namespace.delete": lambda **kw: rig.client.namespace.delete("ns", **kw),
        "health": rig.client.health,
    }

    @settings(_BASE, max_examples=1500)
    @given(name=st.sampled_from(sorted(calls)), timeout=TIMEOUTS, metadata=METADATA)
    def run(name: str, timeout: Any, metadata: Any) -> None:
        nonlocal examples
        examples += 1
        _call(calls[name], timeout=timeout, metadata=metadata)
        rig.recorder.check_new()

    reached = len(rig.recorder.calls)
    run()
    _run(record_property, "timeouts and metadata", examples, len(rig.recorder.calls) - reached)


def test_huge_timeouts_wait_rather_than_fail_at_once(rig: Rig) -> None:
    """grpc's deadline arithmetic overflows past ~7.5e9 s: such a timeout must not expire at once."""

    @settings(_BASE, max_examples=50)
    @given(timeout=st.one_of(st.floats(min_value=1e3, max_value=1e308), st.integers(1000, 2**80)))
    def run(timeout: float) -> None:
        rig.client.user.get_metadata(metadata_key="k", timeout=timeout)

    run()
    rig.recorder.check_new()


_BAD_METADATA: dict[str, tuple[object, type[Exception]]] = {
    "upper-case key": ([("X-Request-Id", "r1")], ValueError),
    "space in key": ([("x request", "r1")], ValueError),
    "pseudo-header": ([(":path", "/evil")], ValueError),
    "empty key": ([("", "v")], ValueError),
    "int key": ([(1, "v")], TypeError),
    "int value": ([("x-n", 5)], TypeError),
    "newline in value": ([("x-secret", "hunter2\r\nx-injected: 1")], ValueError),
    "non-ASCII value": ([("x-name", "hélène")], ValueError),
    "str for a -bin key": ([("x-trace-bin", "text")], TypeError),
    "a dict": ({"x-request-id": "r1"}, TypeError),
    "a string": ("x-request-id", TypeError),
    "triples": ([("x-a", "b", "c")], TypeError),
    "not iterable": (42, TypeError),
}


@pytest.mark.parametrize("case", sorted(_BAD_METADATA))
def test_bad_caller_metadata_is_refused_before_any_call(rig: Rig, case: str) -> None:
    """A TypeError/ValueError naming the problem, instead of grpc's INTERNAL or a wrong header."""
    metadata, expected = _BAD_METADATA[case]
    before = len(rig.recorder.calls)
    with pytest.raises(expected) as raised:
        rig.client.user.get_metadata(metadata_key="k", metadata=metadata)  # type: ignore[arg-type]
    assert len(rig.recorder.calls) == before
    assert "hunter2" not in str(raised.value)  # values may be secrets: never echoed


def test_good_caller_metadata_is_sent_as_given(rig: Rig) -> None:
    before = len(rig.recorder.calls)
    rig.client.user.get_metadata(
        metadata_key="k", metadata=[("x-request-id", "r1"), ("x-trace-bin", b"\x00\xff"), ("x-raw", b"ascii")]
    )
    sent = dict(rig.recorder.calls[before].metadata)
    assert sent["x-request-id"] == "r1"
    assert sent["x-trace-bin"] == b"\x00\xff"
    assert sent["x-raw"] == "ascii"
    assert sent["authorization"] == f"Bearer {TOKEN}"


_OP_REQUESTS: dict[tuple[str, str], Callable[[Any, Any], object]] = {
    ("user", "get_metadata"): lambda key, value: operations.ManagementGetUserMetadataRequest(metadata_key=key),
    ("user", "insert_metadata"): lambda key, value: operations.ManagementInsertUserMetadataRequest(
        insert_user_metadata_request=value, metadata_key=key
    ),
    ("user", "update_metadata"): lambda key, value: operations.ManagementUpdateUserMetadataRequest(
        update_user_metadata_request=value, metadata_key=key
    ),
    ("namespace", "get_metadata"): lambda key, value: operations.ManagementGetNamespaceMetadataRequest(
        metadata_key=key
    ),
    ("namespace", "insert_metadata"): lambda key, value: operations.ManagementInsertNamespaceMetadataRequest(
        insert_namespace_metadata_request=value, metadata_key=key
    ),
    ("namespace", "update_metadata"): lambda key, value: operations.ManagementUpdateNamespaceMetadataRequest(
        update_namespace_metadata_request=value, metadata_key=key
    ),
}
_BODIES = st.one_of(
    st.builds(shared.InsertUserMetadataRequest, value=NESTED),  # huge values: see test_hostile_values
    st.builds(shared.UpdateUserMetadataRequest, value=st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)),
    st.builds(shared.UpdateNamespaceMetadataRequest, value=NESTED),
    st.builds(shared.UpdateUserMetadataRequest, value=st.just({"ok": 1})),
    st.none(),
    st.text(max_size=3),
    st.builds(object),
)


def test_hostile_request_objects(rig: Rig, record_property: Callable[[str, object], None]) -> None:
    examples = 0
    methods = sorted(_OP_REQUESTS)
    junk = st.one_of(
        NON_STR,
        st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
        st.builds(shared.CreateNamespaceRequest),
    )
    rarely = st.integers(0, 3).map(lambda i: i == 0)

    @settings(_BASE, max_examples=1200)
    @given(
        method=st.sampled_from(methods),
        other=st.sampled_from(methods),
        mismatched=rarely,
        key=st.one_of(st.text(min_size=1, max_size=10), KEYS),
        body=_BODIES,
        replaced=st.one_of(st.none(), junk),
        also=st.one_of(st.none(), KEYS),
        with_also=rarely,
    )
    def run(
        *,
        method: tuple[str, str],
        other: tuple[str, str],
        mismatched: bool,
        key: Any,
        body: Any,
        replaced: Any,
        also: Any,
        with_also: bool,
    ) -> None:
        nonlocal examples
        examples += 1
        # Mostly a request of the method's own type with hostile contents; sometimes another
        # operation's request, a junk object, or flattened fields as well.
        request = _OP_REQUESTS[other if mismatched else method](key, body)
        if replaced is not None and mismatched:
            request = replaced
        also = also if with_also else None
        fn = _method(rig.client, *method)
        error = _call(fn, request) if also is None else _call(fn, request, metadata_key=also)
        if also is not None and request is not None:
            assert isinstance(error, (ValueError, TypeError)), "a request object and flattened fields were accepted"
        rig.recorder.check_new()

    reached = len(rig.recorder.calls)
    run()
    _run(record_property, "request objects", examples, len(rig.recorder.calls) - reached)


def test_hostile_namespace_arguments(rig: Rig, record_property: Callable[[str, object], None]) -> None:
    examples = 0
    codes = st.one_of(st.none(), st.integers(), st.floats(), st.booleans(), st.text(max_size=3))
    optional_keys = st.one_of(st.none(), KEYS)

    def create(name: Any, id: Any, code: Any) -> object:
        return rig.client.namespace.create(name=name, id=id, code=code)

    def create_request(name: Any, id: Any, code: Any) -> object:
        return rig.client.namespace.create(shared.CreateNamespaceRequest(code=code, id=id, name=name))

    def by_id(name: Any, id: Any, code: Any) -> object:
        rig.client.namespace.list(namespace_id=id)
        rig.client.namespace.get(namespace_id=id)
        return rig.client.namespace.delete(id)

    @settings(_BASE, max_examples=1200)
    @given(op=st.sampled_from([create, create_request, by_id]), name=KEYS, id=optional_keys, code=codes)
    def run(op: Callable[[Any, Any, Any], object], name: Any, id: Any, code: Any) -> None:
        nonlocal examples
        examples += 1
        _call(op, name, id, code)
        rig.recorder.check_new()

    reached = len(rig.recorder.calls)
    run()
    _run(record_property, "namespace arguments", examples, len(rig.recorder.calls) - reached)


_PB_TYPES = [
    (("user", "get_metadata"), management_pb2.GetUserMetadataRequest),
    (("user", "insert_metadata"), management_pb2.InsertUserMetadataRequest),
    (("user", "update_metadata"), management_pb2.UpdateUserMetadataRequest),
    (("namespace", "get_metadata"), management_pb2.GetNamespaceMetadataRequest),
    (("namespace", "insert_metadata"), management_pb2.InsertNamespaceMetadataRequest),
    (("namespace", "update_metadata"), management_pb2.UpdateNamespaceMetadataRequest),
]


def test_hostile_protobuf_requests(rig: Rig, record_property: Callable[[str, object], None]) -> None:
    """Protobuf requests pass their value bytes through as they are (values are opaque bytes on
    gRPC), but never an empty or oversized key or value."""
    examples = 0
    raw_values = st.one_of(
        st.binary(max_size=20),
        st.builds(lambda n: b"x" * n, st.integers(MAX_VALUE_BYTES - 2, MAX_VALUE_BYTES + 2)),
    )

    @settings(_BASE, max_examples=600)
    @given(
        kind=st.sampled_from(_PB_TYPES),
        key=st.one_of(st.text(max_size=20), st.just(""), near_limit(MAX_KEY_BYTES)),
        value=raw_values,
    )
    def run(kind: tuple[tuple[str, str], type[Message]], key: str, value: bytes) -> None:
        nonlocal examples
        examples += 1
        method, message_type = kind
        if method[1] == "get_metadata":
            request = message_type(metadataKey=key)  # type: ignore[call-arg]
        else:
            request = message_type(metadataKey=key, value=value)  # type: ignore[call-arg]
        _call(_method(rig.client, *method), request)
        rig.recorder.check_new(json_values=False)

    reached = len(rig.recorder.calls)
    run()
    _run(record_property, "protobuf requests", examples, len(rig.recorder.calls) - reached)


# --- The local server ------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, wire_type: int, payload: bytes, declared: int | None) -> bytes:
    head = _varint(number << 3 | wire_type)
    if wire_type == 2:
        return head + _varint(len(payload) if declared is None else declared) + payload
    return head + payload


# Wire-format lookalikes: right field numbers with wrong types, lying lengths, invalid UTF-8.
WIRE_JUNK = st.lists(
    st.builds(
        _field,
        st.integers(1, 5),
        st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7]),
        st.one_of(st.binary(max_size=12), st.sampled_from([b"\xff\xfe", b"\xc0\x80", b"\xed\xa0\x80"])),
        st.one_of(st.none(), st.integers(0, 2**35)),
    ),
    max_size=4,
).map(b"".join)
RAW_PATHS = [*REQUEST_TYPES, f"{MGMT}NoSuchMethod", "/not.a.Service/Call"]


def _assert_handled(exc: grpc.RpcError) -> None:
    """An error status is fine; a handler that crashed (UNKNOWN, or our catch-all) or a hang is not."""
    code, details = exc.code(), exc.details()
    assert code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED), f"{code}: {details}"
    assert details != "internal error", "a handler raised an unexpected exception"


def _still_serves(server: LocalTigrisServer) -> None:
    with Tigris(server.mint_token("after"), server_url=server.url) as client:
        client.user.update_metadata(metadata_key="alive", value={"ok": True})
        body = client.user.get_metadata(metadata_key="alive").get_user_metadata_response
        assert body is not None
        assert body.value == {"ok": True}
        assert client.health()


def test_local_server_survives_malformed_protobuf(
    tigris_server: LocalTigrisServer, record_property: Callable[[str, object], None]
) -> None:
    auth = (("authorization", f"Bearer {tigris_server.mint_token('fuzz')}"),)
    examples = 0
    with grpc.insecure_channel(tigris_server.url) as channel:
        stubs: dict[str, grpc.UnaryUnaryMultiCallable[bytes, bytes]] = {  # bytes in, bytes out
            path: channel.unary_unary(path) for path in RAW_PATHS
        }

        @settings(_BASE, max_examples=1000)
        @given(path=st.sampled_from(RAW_PATHS), body=st.one_of(st.binary(max_size=64), WIRE_JUNK))
        def run(path: str, body: bytes) -> None:
            nonlocal examples
            examples += 1
            try:
                stubs[path](body, timeout=5, metadata=auth)
            except grpc.RpcError as exc:
                _assert_handled(exc)

        run()
    _still_serves(tigris_server)
    _run(record_property, "malformed protobuf", examples, examples)


def _junk_metadata(token: str) -> dict[str, tuple[tuple[str, str | bytes], ...]]:
    bearer = ("authorization", f"Bearer {token}")
    return {
        "basic scheme": (("authorization", "Basic xyz"),),
        "bare scheme": (("authorization", "Bearer"),),
        "scheme and space": (("authorization", "Bearer  "),),
        "huge token": (("authorization", "Bearer " + "x" * 7_000),),
        "three junk parts": (("authorization", "bearer aaa.bbb.ccc"),),
        "token plus junk": (("authorization", f"Bearer {token}x"),),
        "token then text": (("authorization", f"Bearer {token} trailing words"),),
        "binary authorization only": (("authorization-bin", b"\xff\x00" + token.encode()),),
        "junk before a valid header": (("authorization", "Basic xyz"), bearer),
        "many headers": (bearer, *((f"x-junk-{i}", "v" * 10) for i in range(100))),  # within the 8 KiB soft limit
        "huge header": (bearer, ("x-junk", "a" * 6_000)),
        "binary junk": (bearer, ("x-junk-bin", bytes(range(256)) * 10)),
        "valid token": (bearer,),
    }


_MUST_FAIL_AUTH = {
    "basic scheme",
    "bare scheme",
    "scheme and space",
    "huge token",
    "three junk parts",
    "token plus junk",
    "token then text",
    "binary authorization only",
    "junk before a valid header",
}


def _status(call: Callable[[], object]) -> grpc.StatusCode:
    """The status a raw call ends with, after checking that an error was a handled one."""
    try:
        call()
    except grpc.RpcError as exc:
        _assert_handled(exc)
        code: grpc.StatusCode = exc.code()
        return code
    return grpc.StatusCode.OK


def test_local_server_survives_junk_metadata(
    tigris_server: LocalTigrisServer, record_property: Callable[[str, object], None]
) -> None:
    token = tigris_server.mint_token("junk")
    examples = 0
    request = management_pb2.GetUserMetadataRequest(metadataKey="k").SerializeToString()
    with grpc.insecure_channel(tigris_server.url) as channel:
        get: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(f"{MGMT}GetUserMetadata")
        health: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary("/HealthAPI/Health")
        for name, metadata in _junk_metadata(token).items():
            code = _status(functools.partial(get, request, timeout=5, metadata=metadata))
            expected = grpc.StatusCode.UNAUTHENTICATED if name in _MUST_FAIL_AUTH else grpc.StatusCode.OK
            assert code == expected, f"{name}: {code}"
            health(b"", timeout=5, metadata=metadata)  # needs no token, whatever comes with it
            examples += 1

        @settings(_BASE, max_examples=300)
        @given(
            headers=st.lists(
                st.tuples(
                    st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=20).filter(
                        lambda k: not k.startswith("grpc-") and k != "authorization" and not k.endswith("-bin")
                    ),
                    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200),
                ),
                max_size=20,
            )
        )
        def run(headers: list[tuple[str, str]]) -> None:
            nonlocal examples
            examples += 1
            answer = get(request, timeout=5, metadata=(*headers, ("authorization", f"Bearer {token}")))
            assert management_pb2.GetUserMetadataResponse.FromString(answer).userId == "junk"

        run()
    _still_serves(tigris_server)
    _run(record_property, "junk metadata", examples, examples)


_NEVER_SENT = {
    "empty value": (f"{MGMT}InsertUserMetadata", management_pb2.InsertUserMetadataRequest(metadataKey="k")),
    "NaN": (f"{MGMT}UpdateUserMetadata", management_pb2.UpdateUserMetadataRequest(metadataKey="k", value=b"NaN")),
    "not JSON": (f"{MGMT}UpdateUserMetadata", management_pb2.UpdateUserMetadataRequest(metadataKey="k", value=b"{")),
    "empty key": (f"{MGMT}GetUserMetadata", management_pb2.GetUserMetadataRequest(metadataKey="")),
    "no namespace id": (f"{MGMT}DeleteNamespace", management_pb2.DeleteNamespaceRequest()),
}


@pytest.mark.parametrize("case", sorted(_NEVER_SENT))
def test_the_request_checker_rejects_what_the_server_must_never_receive(case: str) -> None:
    """The checker itself can fail: empty values, non-standard JSON, empty keys, missing ids."""
    path, message = _NEVER_SENT[case]
    with pytest.raises((AssertionError, ValueError)):
        check_request(Received(path, message.SerializeToString(), ()), json_values=True)


def test_the_request_checker_rejects_bytes_that_are_not_the_message() -> None:
    with pytest.raises(DecodeError):
        check_request(Received(f"{MGMT}GetUserMetadata", b"\x0a\x05k", ()), json_values=True)


# --- Stored values, whoever wrote them --------------------------------------------------------------


def _as_json_reads_it(data: bytes) -> object:
    """What a REST-SDK user gets from ``json.loads``; bytes json cannot read come back as they are."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return data


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too, which orjson alone would turn into floats
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats()  # NaN and the infinities included: json writes and reads them
    | st.text(st.characters(exclude_categories=())),  # lone surrogates included
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=()), max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def test_stored_values_decode_exactly_as_json_reads_them(record_property: Callable[[str, object], None]) -> None:
    """Whatever bytes are stored, the answer's value is json.loads's reading of them, type for type."""
    tried = [0]

    @settings(_BASE, max_examples=3000)
    @given(
        data=st.one_of(
            st.builds(
                lambda value, ascii_only, spaced: json.dumps(
                    value, ensure_ascii=ascii_only, separators=(", ", ": ") if spaced else (",", ":")
                ).encode("utf-8", "surrogatepass"),
                _JSON_VALUES,
                st.booleans(),
                st.booleans(),
            ),
            st.binary(max_size=40),
            st.sampled_from([b"\xef\xbb\xbf[1]", '"\u00e9"'.encode("utf-16"), b"1e400", b"-Infinity", b" 7 "]),
        )
    )
    def check(data: bytes) -> None:
        tried[0] += 1
        # repr tells 1 from 1.0 and shows NaN, which never equals itself.
        assert repr(decode_value(data)) == repr(_as_json_reads_it(data) if data else None)

    check()
    record_property("examples", tried[0])
