"""A tiny programmable gRPC server: "any server implementing the contract", under the test's control.

It answers every method path with raw bytes (no protobuf classes on the server side), records each
call it receives (path, request bytes, metadata) and answers according to what the test set for
that path: response bytes, an error status with Tigris's status details, a slow answer, a call
forwarded to another server, or any handler function. Use it as a context manager::

    with FakeServer() as server:
        server.on(GET_USER_METADATA, Reply(b"..."))
        client = Tigris(bearer_auth="tok", server_url=server.url)
        ...
        assert server.calls[0].header("authorization") == "Bearer tok"
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, Union

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from typing import TypeAlias  # Python 3.10+; annotations are never evaluated

GET_USER_METADATA = "/tigrisdata.management.v1.Management/GetUserMetadata"
INSERT_USER_METADATA = "/tigrisdata.management.v1.Management/InsertUserMetadata"
UPDATE_USER_METADATA = "/tigrisdata.management.v1.Management/UpdateUserMetadata"
GET_ACCESS_TOKEN = "/tigrisdata.auth.v1.Auth/GetAccessToken"
HEALTH = "/HealthAPI/Health"


@dataclass(frozen=True)
class Call:
    """One call as the server received it."""

    method: str
    """The gRPC method path, e.g. ``/tigrisdata.management.v1.Management/GetUserMetadata``."""
    request: bytes
    """The serialized request message, exactly as it arrived."""
    metadata: tuple[tuple[str, str | bytes], ...]
    """The invocation metadata, in order (grpc adds ``user-agent`` and its own keys)."""

    def headers(self, key: str) -> list[str | bytes]:
        """Every value sent under ``key``, in order."""
        return [value for k, value in self.metadata if k == key]

    def header(self, key: str) -> str | bytes | None:
        """The single value sent under ``key``, or None; fails if it was sent more than once."""
        values = self.headers(key)
        assert len(values) <= 1, f"{key} sent {len(values)} times"
        return values[0] if values else None


@dataclass(frozen=True)
class Reply:
    """Answer OK with these response bytes."""

    response: bytes = b""


@dataclass(frozen=True)
class Abort:
    """Answer with an error status, and ``grpc-status-details-bin`` as Tigris sends it.

    ``reason`` becomes a ``google.rpc.ErrorInfo`` and ``retry_delay`` a ``google.rpc.RetryInfo``;
    with neither, no details trailer is sent. ``raw_details`` sends these exact trailer bytes
    instead (to test a malformed trailer).
    """

    code: grpc.StatusCode
    message: str = ""
    reason: str | None = None
    retry_delay: float | None = None
    raw_details: bytes | None = None


@dataclass(frozen=True)
class Sleep:
    """Answer after ``seconds`` (or as soon as the client gives up on the call)."""

    seconds: float
    then: Reply = field(default_factory=Reply)


@dataclass(frozen=True)
class Forward:
    """Pass the call on, bytes and metadata unchanged, to the server at ``target``.

    Puts the fake server in front of a real one, to record what crosses the wire.
    """

    target: str


Handler: TypeAlias = Callable[[bytes, grpc.ServicerContext], bytes]
Behaviour: TypeAlias = Union[Reply, Abort, Sleep, Forward, Handler]

# Metadata keys grpc adds or controls itself; a forwarded call must not send them again.
_TRANSPORT_KEYS = frozenset(
    {"user-agent", "grpc-accept-encoding", "grpc-timeout", "grpc-previous-rpc-attempts", "te", "content-type"}
)


def status_details(reason: str | None = None, retry_delay: float | None = None, code: int = 2) -> bytes:
    """The ``grpc-status-details-bin`` value: a google.rpc.Status with ErrorInfo and/or RetryInfo."""
    details = []
    if reason is not None:
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.ErrorInfo(reason=reason))
        details.append(detail)
    if retry_delay is not None:
        seconds = int(retry_delay)
        delay = duration_pb2.Duration(seconds=seconds, nanos=round((retry_delay - seconds) * 1e9))
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        details.append(detail)
    data: bytes = status_pb2.Status(code=code, details=details).SerializeToString()
    return data


class FakeServer:
    """A gRPC server on 127.0.0.1 (a free port) that records calls and answers as told.

    Paths with no behaviour set are answered UNIMPLEMENTED, as a real server would.
    """

    def __init__(self, max_workers: int = 16, port: int = 0) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._plans: dict[str, list[Behaviour]] = {}
        self._stopped = threading.Event()
        self._channels: dict[str, grpc.Channel] = {}
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fake-grpc")
        self._server = grpc.server(self._executor, handlers=[_AnyMethod(self)])
        self.port = self._server.add_insecure_port(f"127.0.0.1:{port}")
        self.url = f"127.0.0.1:{self.port}"

    # --- Programming ----------------------------------------------------------------------------

    def on(self, method: str, *behaviours: Behaviour) -> None:
        """Answer ``method`` with these behaviours, one per call; the last one repeats.

        ``method="*"`` sets the answer for every path that has none of its own.
        """
        if not behaviours:
            raise ValueError("give at least one behaviour")
        with self._lock:
            self._plans[method] = list(behaviours)

    # --- Recording ------------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """A snapshot of every call received so far, in arrival order."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        """The calls received for one method path."""
        return [call for call in self.calls if call.method == method]

    def clear(self) -> None:
        """Forget the calls recorded so far (behaviours stay)."""
        with self._lock:
            self._calls.clear()

    # --- Lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeServer:
        """Start serving; returns self."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop at once, waking any handler still sleeping, and close forwarding channels."""
        self._stopped.set()
        self._server.stop(grace=None).wait()
        self._executor.shutdown(wait=True)
        for channel in self._channels.values():
            channel.close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- Serving --------------------------------------------------------------------------------

    def _next(self, method: str) -> Behaviour | None:
        with self._lock:
            plan = self._plans.get(method) or self._plans.get("*")
            if not plan:
                return None
            return plan.pop(0) if len(plan) > 1 else plan[0]

    def handle(self, method: str, request: bytes, context: grpc.ServicerContext) -> bytes:
        metadata = tuple((key, value) for key, value in context.invocation_metadata())
        with self._lock:
            self._calls.append(Call(method, request, metadata))
        behaviour = self._next(method)
        if behaviour is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, f"fake server: nothing set for {method}")
        return self._answer(behaviour, method, request, metadata, context)

    def _answer(
        self,
        behaviour: Behaviour,
        method: str,
        request: bytes,
        metadata: Sequence[tuple[str, str | bytes]],
        context: grpc.ServicerContext,
    ) -> bytes:
        if isinstance(behaviour, Reply):
            return behaviour.response
        if isinstance(behaviour, Abort):
            _abort(behaviour, context)
        if isinstance(behaviour, Sleep):
            end = time.monotonic() + behaviour.seconds
            while context.is_active() and not self._stopped.is_set() and time.monotonic() < end:
                time.sleep(0.01)
            return behaviour.then.response
        if isinstance(behaviour, Forward):
            return self._forward(behaviour.target, method, request, metadata, context)
        return behaviour(request, context)

    def _forward(
        self,
        target: str,
        method: str,
        request: bytes,
        metadata: Sequence[tuple[str, str | bytes]],
        context: grpc.ServicerContext,
    ) -> bytes:
        with self._lock:
            channel = self._channels.get(target)
            if channel is None:
                channel = self._channels[target] = grpc.insecure_channel(target)
        # No (de)serializers: the bytes pass through unchanged.
        call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
        kept = tuple((k, v) for k, v in metadata if k not in _TRANSPORT_KEYS and not k.startswith(":"))
        try:
            response: bytes = call(request, metadata=kept, timeout=context.time_remaining())
        except grpc.RpcError as exc:
            failed: Any = exc
            context.set_trailing_metadata(tuple(failed.trailing_metadata() or ()))
            context.abort(failed.code(), failed.details() or "")
        return response


def _abort(abort: Abort, context: grpc.ServicerContext) -> NoReturn:
    if abort.raw_details is not None:
        context.set_trailing_metadata((("grpc-status-details-bin", abort.raw_details),))
        context.abort(abort.code, abort.message)
    if abort.reason is None and abort.retry_delay is None:
        context.abort(abort.code, abort.message)
    status = status_pb2.Status.FromString(status_details(abort.reason, abort.retry_delay, abort.code.value[0]))
    status.message = abort.message
    context.abort_with_status(rpc_status.to_status(status))


class _AnyMethod(grpc.GenericRpcHandler):
    """Routes every method path, as a unary call on raw bytes, to the fake server."""

    def __init__(self, server: FakeServer) -> None:
        self._server = server

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[bytes, bytes] | None:
        method = handler_call_details.method
        server = self._server

        def unary(request: bytes, context: grpc.ServicerContext) -> bytes:
            return server.handle(method, request, context)

        # No (de)serializers: the handler sees and returns raw bytes.
        return grpc.unary_unary_rpc_method_handler(unary)


@contextmanager
def fake_server(max_workers: int = 16, port: int = 0) -> Iterator[FakeServer]:
    """A started `FakeServer` (on a free port unless given one), stopped on exit."""
    server = FakeServer(max_workers, port)
    with server:
        yield server


def pairs(metadata: Iterable[tuple[str, str | bytes]]) -> list[tuple[str, str | bytes]]:
    """Metadata without the keys grpc adds itself, for comparing what a caller sent."""
    return [(k, v) for k, v in metadata if k not in _TRANSPORT_KEYS]
