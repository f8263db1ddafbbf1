"""The one place that performs a call: the sync and the async edge, and what they share.

Each edge holds one callable per operation, made once from its channel. A call adds the auth
metadata, applies the deadline, invokes, and maps any grpc error to `SDKError` raised from it.
An UNAUTHENTICATED answer to a refreshable token triggers one refresh and one retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from tigris_grpc._auth import Metadata, _Auth, merge_metadata
from tigris_grpc._errors import SDKError, from_grpc_error
from tigris_grpc._ops import ALL_OPS, Op, TokenRequest, check_metadata, check_timeout

_R = TypeVar("_R")
CallerMetadata = Sequence[tuple[str, str | bytes]] | None
_CLOSED = "this Tigris client is closed"


def _callables(channel: Any) -> list[Any]:
    return [
        channel.unary_unary(
            op.path,
            request_serializer=op.serialize or op.request_type.SerializeToString,
            response_deserializer=op.response_type.FromString,
            _registered_method=True,
        )
        for op in ALL_OPS
    ]


class _EdgeBase:
    """What both edges share: metadata, deadlines, and turning errors into answers or SDKErrors."""

    def __init__(self, auth: _Auth, timeout: float) -> None:
        self._auth = auth
        self._timeout = timeout
        self._closed = False

    def _deadline(self, timeout: float | None) -> float:
        return self._timeout if timeout is None else check_timeout(timeout) or self._timeout

    def _should_refresh(self, op: Op[Any], exc: grpc.RpcError, caller: CallerMetadata) -> bool:
        return (
            op.needs_auth
            and self._auth.refreshable
            and exc.code() == grpc.StatusCode.UNAUTHENTICATED
            and not any(key.lower() == "authorization" for key, _ in caller or ())
        )

    def _failed(self, op: Op[_R], request: Message | TokenRequest, exc: grpc.RpcError) -> _R:
        """The answer for a failed call, or the SDKError to raise.

        One exception to "never read messages": servers older than Feb 2023 answered a missing
        metadata key with INTERNAL and exactly this text, where newer ones answer an empty value.
        """
        error = from_grpc_error(exc)
        missing = op.missing
        if missing is not None and error.code == "INTERNAL" and error.message == op.missing_message:
            assert isinstance(request, Message)  # only metadata reads have a missing answer
            return op.parse(missing(request))
        raise error from exc


class SyncEdge(_EdgeBase):
    """Calls over a `grpc.Channel`."""

    def __init__(self, channel: grpc.Channel, auth: _Auth, timeout: float) -> None:
        super().__init__(auth, timeout)
        self._channel = channel
        self._calls = _callables(channel)

    def metadata(self, op: Op[Any], caller: CallerMetadata, deadline: float | None = None) -> Metadata:
        if not op.needs_auth:
            return tuple(caller or ())
        static = self._auth.static
        if static is not None and not caller:
            return static
        return merge_metadata(self._auth.metadata(deadline), caller)

    def call(self, op: Op[_R], request: Message | TokenRequest, timeout: float | None, caller: CallerMetadata) -> _R:
        """Perform ``op`` and return its parsed answer; raise SDKError on failure."""
        if self._closed:  # before auth too: a token fetch on the closed channel would leak grpc's error
            raise RuntimeError(_CLOSED)
        deadline = self._deadline(timeout)
        if caller is not None:
            caller = check_metadata(caller)
        sent = self.metadata(op, caller, deadline)
        call = self._calls[op.index]
        try:
            return op.parse(call(request, timeout=deadline, metadata=sent))
        except grpc.RpcError as exc:
            if not self._should_refresh(op, exc, caller):
                return self._failed(op, request, exc)
            self._auth.invalidate(sent)
            try:
                return op.parse(call(request, timeout=deadline, metadata=self.metadata(op, caller, deadline)))
            except grpc.RpcError as again:
                return self._failed(op, request, again)
        except ValueError:
            if self._closed:
                raise RuntimeError(_CLOSED) from None
            raise

    def close(self) -> None:
        self._closed = True
        self._channel.close()


class AsyncEdge(_EdgeBase):
    """Calls over a `grpc.aio.Channel`, made lazily inside the running event loop."""

    def __init__(self, make_channel: Any, auth: _Auth, timeout: float) -> None:
        super().__init__(auth, timeout)
        self._make_channel = make_channel
        self._channel: grpc.aio.Channel | None = None
        self._calls: list[Any] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def callables(self) -> list[Any]:
        """The callables of this loop's channel, opening it on first use.

        A grpc.aio channel belongs to the loop it was made in; using it from another fails deep
        inside grpc, so say so plainly instead.
        """
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return self._calls
        if self._closed:
            raise RuntimeError(_CLOSED)
        if self._loop is not None:
            raise RuntimeError(
                "this AsyncTigris is bound to the event loop of its first call; make one client per event loop"
            )
        self._channel = self._make_channel()
        self._calls = _callables(self._channel)
        self._loop = loop
        return self._calls

    async def metadata(self, op: Op[Any], caller: CallerMetadata, deadline: float | None = None) -> Metadata:
        if not op.needs_auth:
            return tuple(caller or ())
        static = self._auth.static
        if static is not None and not caller:
            return static
        return merge_metadata(await self._auth.metadata_async(deadline), caller)

    async def call(
        self, op: Op[_R], request: Message | TokenRequest, timeout: float | None, caller: CallerMetadata
    ) -> _R:
        """Perform ``op`` and return its parsed answer; raise SDKError on failure."""
        if self._closed:  # before auth too: a token fetch on the closed channel would leak grpc's error
            raise RuntimeError(_CLOSED)
        deadline = self._deadline(timeout)
        if caller is not None:
            caller = check_metadata(caller)
        call = self.callables()[op.index]
        static = self._auth.static
        # A fixed token and no caller metadata (the common case) need no coroutine per call.
        sent = (
            static if static is not None and op.needs_auth and not caller else await self.metadata(op, caller, deadline)
        )
        try:
            return op.parse(await call(request, timeout=deadline, metadata=sent))
        except grpc.aio.AioRpcError as exc:
            if not self._should_refresh(op, exc, caller):
                return self._failed(op, request, exc)
            self._auth.invalidate(sent)
            try:
                again_sent = await self.metadata(op, caller, deadline)
                return op.parse(await call(request, timeout=deadline, metadata=again_sent))
            except grpc.aio.AioRpcError as again:
                return self._failed(op, request, again)
        except grpc.aio.UsageError:
            if self._closed:
                raise RuntimeError(_CLOSED) from None
            raise

    async def close(self) -> None:
        self._closed = True
        if self._channel is not None:
            await self._channel.close()


__all__ = ["AsyncEdge", "SDKError", "SyncEdge"]
