"""The one place that performs a call: the sync and the async edge, and what they share.

Each edge holds one callable per operation, made once from its channel. A call adds the auth
metadata, applies the deadline, invokes, and maps any grpc error to `SDKError` raised from it.
An UNAUTHENTICATED answer to a refreshable token triggers one refresh and one retry. The
deadline covers the whole call: a token fetch or a retry it needs come out of the same budget.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Optional, TypeVar, Union

import grpc
import grpc.aio
from google.protobuf.message import Message

from tigris_grpc._auth import Metadata, _Auth, merge_metadata, no_usable_token, token_error, usable_token
from tigris_grpc._errors import SDKError, from_grpc_error, make_error
from tigris_grpc._ops import ALL_OPS, GET_ACCESS_TOKEN, Op, TokenRequest, check_metadata, check_timeout
from tigris_grpc._pb import auth_pb2

_R = TypeVar("_R")
# Union and Optional, not |: evaluated at run time, and Python 3.9 has no | between types.
CallerMetadata = Optional[Sequence[tuple[str, Union[str, bytes]]]]
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
    """What both edges share: arguments, deadlines, and turning errors into answers or SDKErrors."""

    def __init__(self, auth: _Auth, timeout: float) -> None:
        self._auth = auth
        self._timeout = timeout
        self._closed = False

    def _start(self, timeout: float | None, caller: CallerMetadata) -> tuple[float, CallerMetadata]:
        """The call's time budget and its checked caller metadata; refuses a closed client."""
        if self._closed:  # before auth too: a token fetch on a closed channel would leak grpc's error
            raise RuntimeError(_CLOSED)
        budget = self._timeout if timeout is None else check_timeout(timeout) or self._timeout
        return budget, (None if caller is None else check_metadata(caller))

    def _fixed_metadata(self, op: Op[Any], caller: CallerMetadata) -> Metadata | None:
        """The metadata when no token has to be fetched (no auth, or a static token); else None."""
        if not op.needs_auth:
            return merge_metadata((), caller)
        if caller and any(key.lower() == "authorization" for key, _ in caller):
            return merge_metadata((), caller)  # the caller's own token: nothing to fetch
        static = self._auth.static
        if static is None:
            return None
        return static if not caller else merge_metadata(static, caller)

    def _token_timeout(self, deadline: float | None) -> float:
        return self._timeout if deadline is None else min(self._timeout, deadline)

    @staticmethod
    def _left(end: float) -> float:
        left = end - time.monotonic()
        if left <= 0:
            raise make_error("DEADLINE_EXCEEDED", "the call's deadline passed while obtaining an access token")
        return left

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

    def _closed_channel(self, exc: Exception) -> Exception:
        """grpc's error for a call on a closed channel, as ours when we closed it meanwhile."""
        return RuntimeError(_CLOSED) if self._closed else exc


class SyncEdge(_EdgeBase):
    """Calls over a `grpc.Channel`."""

    def __init__(self, channel: grpc.Channel, auth: _Auth, timeout: float) -> None:
        super().__init__(auth, timeout)
        self._channel = channel
        self._calls = _callables(channel)

    def call(self, op: Op[_R], request: Message | TokenRequest, timeout: float | None, caller: CallerMetadata) -> _R:
        """Perform ``op`` and return its parsed answer; raise SDKError on failure."""
        budget, caller = self._start(timeout, caller)
        call = self._calls[op.index]
        try:
            fixed = self._fixed_metadata(op, caller)
            if fixed is not None:
                try:
                    return op.parse(call(request, timeout=budget, metadata=fixed))
                except grpc.RpcError as exc:
                    return self._failed(op, request, exc)
            end = time.monotonic() + budget
            credentials = self._auth.metadata(budget)
            try:
                return op.parse(call(request, timeout=self._left(end), metadata=merge_metadata(credentials, caller)))
            except grpc.RpcError as exc:
                if not self._should_refresh(op, exc, caller):
                    return self._failed(op, request, exc)
                self._auth.invalidate(credentials)
            credentials = self._auth.metadata(self._left(end))
            try:
                return op.parse(call(request, timeout=self._left(end), metadata=merge_metadata(credentials, caller)))
            except grpc.RpcError as exc:
                return self._failed(op, request, exc)
        except ValueError as exc:
            raise self._closed_channel(exc) from None

    def fetch_token(self, request: TokenRequest, deadline: float | None) -> auth_pb2.GetAccessTokenResponse:
        """One GetAccessToken for the client-credentials source: no auth, no 401 retry."""
        try:
            answer: auth_pb2.GetAccessTokenResponse = self._calls[GET_ACCESS_TOKEN.index](
                request, timeout=self._token_timeout(deadline)
            )
        except grpc.RpcError as exc:
            raise token_error(exc) from exc
        except ValueError as exc:
            raise self._closed_channel(exc) from None
        if usable_token(answer):
            return answer
        del answer  # it may still hold a token: keep it out of the traceback's locals
        raise no_usable_token()

    def close(self, close_channel: bool = True) -> None:
        self._closed = True
        if close_channel:
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

    async def call(
        self, op: Op[_R], request: Message | TokenRequest, timeout: float | None, caller: CallerMetadata
    ) -> _R:
        """Perform ``op`` and return its parsed answer; raise SDKError on failure."""
        budget, caller = self._start(timeout, caller)
        call = self.callables()[op.index]
        try:
            fixed = self._fixed_metadata(op, caller)
            if fixed is not None:
                try:
                    return op.parse(await call(request, timeout=budget, metadata=fixed))
                except grpc.aio.AioRpcError as exc:
                    return self._failed(op, request, exc)
            end = time.monotonic() + budget
            credentials = await self._auth.metadata_async(budget)
            try:
                sent = merge_metadata(credentials, caller)
                return op.parse(await call(request, timeout=self._left(end), metadata=sent))
            except grpc.aio.AioRpcError as exc:
                if not self._should_refresh(op, exc, caller):
                    return self._failed(op, request, exc)
                self._auth.invalidate(credentials)
            credentials = await self._auth.metadata_async(self._left(end))
            try:
                sent = merge_metadata(credentials, caller)
                return op.parse(await call(request, timeout=self._left(end), metadata=sent))
            except grpc.aio.AioRpcError as exc:
                return self._failed(op, request, exc)
        except grpc.aio.UsageError as exc:
            raise self._closed_channel(exc) from None

    async def fetch_token(self, request: TokenRequest, deadline: float | None) -> auth_pb2.GetAccessTokenResponse:
        """One GetAccessToken for the client-credentials source: no auth, no 401 retry."""
        try:
            answer: auth_pb2.GetAccessTokenResponse = await self.callables()[GET_ACCESS_TOKEN.index](
                request, timeout=self._token_timeout(deadline)
            )
        except grpc.aio.AioRpcError as exc:
            raise token_error(exc) from exc
        except grpc.aio.UsageError as exc:
            raise self._closed_channel(exc) from None
        if usable_token(answer):
            return answer
        del answer  # it may still hold a token: keep it out of the traceback's locals
        raise no_usable_token()

    async def close(self, close_channel: bool = True) -> None:
        self._closed = True
        if close_channel and self._channel is not None:
            await self._channel.close()


__all__ = ["AsyncEdge", "SDKError", "SyncEdge"]
