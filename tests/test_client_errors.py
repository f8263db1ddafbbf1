"""Every failed call raises the right `SDKError`, with what the REST SDK and the server said.

A fake server answers with each gRPC status (and Tigris's status details); the tests check the
class, ``status_code`` (CONTRACT.md's HTTP table), ``grpc_code``, ``code``, ``message``, ``body``,
``str()``, ``raw_response`` and the exception chain.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator

import grpc
import pytest
from _fake_server import INSERT_USER_METADATA, Abort, FakeServer, Sleep, fake_server, status_details
from google.protobuf import any_pb2
from google.rpc import status_pb2  # type: ignore[import-untyped]

import tigris_grpc as tigris
from tigris_grpc.models import errors

S = grpc.StatusCode

# gRPC code -> (class, HTTP status), written out from CONTRACT.md rather than taken from the code.
EXPECTED: dict[grpc.StatusCode, tuple[type[errors.SDKError], int]] = {
    S.CANCELLED: (errors.RequestCancelledError, 499),
    S.UNKNOWN: (errors.InternalServerError, 500),
    S.INVALID_ARGUMENT: (errors.BadRequestError, 400),
    S.DEADLINE_EXCEEDED: (errors.DeadlineExceededError, 504),
    S.NOT_FOUND: (errors.NotFoundError, 404),
    S.ALREADY_EXISTS: (errors.ConflictError, 409),
    S.PERMISSION_DENIED: (errors.PermissionDeniedError, 403),
    S.RESOURCE_EXHAUSTED: (errors.TooManyRequestsError, 429),
    S.FAILED_PRECONDITION: (errors.PreconditionFailedError, 412),
    S.ABORTED: (errors.ConflictError, 409),
    S.OUT_OF_RANGE: (errors.BadRequestError, 400),
    S.UNIMPLEMENTED: (errors.UnimplementedError, 501),
    S.INTERNAL: (errors.InternalServerError, 500),
    S.UNAVAILABLE: (errors.UnavailableError, 503),
    S.DATA_LOSS: (errors.InternalServerError, 500),
    S.UNAUTHENTICATED: (errors.UnauthenticatedError, 401),
}


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    """A fake server for one test."""
    with fake_server() as server:
        yield server


@pytest.fixture
def client(fake: FakeServer) -> Iterator[tigris.Tigris]:
    """A client of the fake server; no retries, so each failure is answered once."""
    with tigris.Tigris(bearer_auth="tok", server_url=fake.url, retry=None) as s:
        yield s


def fail_with(fake: FakeServer, client: tigris.Tigris, abort: Abort) -> errors.SDKError:
    """Make the server answer an insert with ``abort`` and return what the client raised."""
    fake.on(INSERT_USER_METADATA, abort)
    with pytest.raises(errors.SDKError) as caught:
        client.user.insert_metadata(metadata_key="k", value=1)
    return caught.value


def test_the_table_covers_every_grpc_code() -> None:
    assert set(EXPECTED) == set(grpc.StatusCode) - {S.OK}


@pytest.mark.parametrize("with_details", [True, False], ids=["ErrorInfo", "bare status"])
@pytest.mark.parametrize("grpc_code", list(EXPECTED), ids=lambda c: c.name)
def test_every_status_maps_to_its_error(
    fake: FakeServer, client: tigris.Tigris, grpc_code: grpc.StatusCode, with_details: bool
) -> None:
    message = f"the server says {grpc_code.name.lower()} (ünïcode kept)"
    reason = grpc_code.name if with_details else None
    error = fail_with(fake, client, Abort(grpc_code, message, reason=reason))
    cls, status = EXPECTED[grpc_code]

    assert type(error) is cls
    assert isinstance(error, errors.SDKError)
    assert error.status_code == status
    assert error.grpc_code == grpc_code
    assert error.code == grpc_code.name
    assert error.message == message
    assert json.loads(error.body) == {"error": {"code": grpc_code.name, "message": message}}
    assert str(error) == f"{message}: Status {status}\n{error.body}"
    assert error.retry_delay is None
    # The original grpc error is kept, and the SDKError is raised from it.
    assert isinstance(error.raw_response, grpc.RpcError)
    assert error.__cause__ is error.raw_response
    assert error.raw_response.code() == grpc_code
    # One call: nothing retried behind the caller's back.
    assert len(fake.calls) == 1


def test_an_empty_message_falls_back_to_the_code_name(fake: FakeServer, client: tigris.Tigris) -> None:
    error = fail_with(fake, client, Abort(S.NOT_FOUND, ""))
    assert error.message == "NOT_FOUND"
    assert str(error).startswith("NOT_FOUND: Status 404\n")


@pytest.mark.parametrize(
    ("reason", "cls", "status"),
    [
        ("CONFLICT", errors.ConflictError, 409),
        ("BAD_GATEWAY", errors.BadGatewayError, 502),
        ("CONTENT_TOO_LARGE", errors.ContentTooLargeError, 413),
        ("METHOD_NOT_ALLOWED", errors.MethodNotAllowedError, 405),
    ],
)
def test_tigris_extended_codes_travel_as_unknown(
    fake: FakeServer, client: tigris.Tigris, reason: str, cls: type[errors.SDKError], status: int
) -> None:
    error = fail_with(fake, client, Abort(S.UNKNOWN, "extended", reason=reason))
    assert type(error) is cls
    assert error.status_code == status
    assert error.code == reason
    assert error.grpc_code == S.UNKNOWN
    assert json.loads(error.body) == {"error": {"code": reason, "message": "extended"}}
    assert str(error) == f"extended: Status {status}\n{error.body}"


def test_the_reason_wins_over_the_grpc_code(fake: FakeServer, client: tigris.Tigris) -> None:
    # The class follows the Tigris code, whatever gRPC code carried it.
    error = fail_with(fake, client, Abort(S.ABORTED, "write conflict", reason="CONFLICT"))
    assert (type(error), error.code, error.grpc_code) == (errors.ConflictError, "CONFLICT", S.ABORTED)


def test_an_unknown_reason_falls_back_to_the_grpc_code(fake: FakeServer, client: tigris.Tigris) -> None:
    error = fail_with(fake, client, Abort(S.NOT_FOUND, "gone", reason="SOMETHING_NEWER"))
    assert (type(error), error.code, error.status_code) == (errors.NotFoundError, "NOT_FOUND", 404)


@pytest.mark.parametrize(("delay", "expected"), [(1.5, 1.5), (0.25, 0.25), (3, 3.0), (0, 0.0)])
def test_retry_info_is_surfaced(fake: FakeServer, client: tigris.Tigris, delay: float, expected: float) -> None:
    error = fail_with(
        fake, client, Abort(S.RESOURCE_EXHAUSTED, "slow down", reason="RESOURCE_EXHAUSTED", retry_delay=delay)
    )
    assert type(error) is errors.TooManyRequestsError
    assert error.status_code == 429
    assert error.retry_delay == pytest.approx(expected)


def test_retry_info_without_error_info(fake: FakeServer, client: tigris.Tigris) -> None:
    error = fail_with(fake, client, Abort(S.UNAVAILABLE, "busy", retry_delay=1.5))
    assert (type(error), error.code, error.retry_delay) == (errors.UnavailableError, "UNAVAILABLE", 1.5)


def _corrupt_detail_status() -> bytes:
    # A well-formed google.rpc.Status whose ErrorInfo payload is not a valid message.
    bad = any_pb2.Any(type_url="type.googleapis.com/google.rpc.ErrorInfo", value=b"\xff\xff\xff")
    good = status_pb2.Status.FromString(status_details(retry_delay=2.0)).details[0]
    data: bytes = status_pb2.Status(code=13, details=[bad, good]).SerializeToString()
    return data


@pytest.mark.parametrize(
    "details",
    [b"\xff\xff\xff not a status", b"", _corrupt_detail_status()],
    ids=["garbage", "empty", "corrupt ErrorInfo"],
)
def test_a_malformed_details_trailer_still_maps_by_grpc_code(
    fake: FakeServer, client: tigris.Tigris, details: bytes
) -> None:
    error = fail_with(fake, client, Abort(S.PERMISSION_DENIED, "no", raw_details=details))
    assert type(error) is errors.PermissionDeniedError
    assert (error.status_code, error.code, error.message) == (403, "PERMISSION_DENIED", "no")


def test_a_corrupt_detail_does_not_hide_the_others(fake: FakeServer, client: tigris.Tigris) -> None:
    error = fail_with(fake, client, Abort(S.UNAVAILABLE, "busy", raw_details=_corrupt_detail_status()))
    assert error.retry_delay == 2.0


def test_client_side_deadline(fake: FakeServer, client: tigris.Tigris) -> None:
    # Not sent by the server: grpc's own DEADLINE_EXCEEDED maps the same way.
    fake.on(INSERT_USER_METADATA, Sleep(30))
    with pytest.raises(errors.DeadlineExceededError) as caught:
        client.user.insert_metadata(metadata_key="k", value=1, timeout=0.2)
    assert caught.value.status_code == 504
    assert caught.value.code == "DEADLINE_EXCEEDED"
    assert isinstance(caught.value.__cause__, grpc.RpcError)


@pytest.mark.parametrize(
    "abort",
    [
        Abort(S.UNKNOWN, "conflict", reason="CONFLICT", retry_delay=1.5),
        Abort(S.NOT_FOUND, "gone"),
        Abort(S.UNAUTHENTICATED, "who are you", reason="UNAUTHENTICATED"),
    ],
    ids=["conflict", "not found", "unauthenticated"],
)
def test_errors_pickle(fake: FakeServer, client: tigris.Tigris, abort: Abort) -> None:
    error = fail_with(fake, client, abort)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    for attribute in ("message", "status_code", "body", "grpc_code", "code", "retry_delay"):
        assert getattr(copy, attribute) == getattr(error, attribute), attribute
    assert str(copy) == str(error)
    assert copy.raw_response is None  # the grpc error itself cannot be pickled


def test_every_error_class_is_an_sdk_error_and_exported() -> None:
    classes = {cls for cls, _ in EXPECTED.values()} | {
        errors.BadGatewayError,
        errors.ContentTooLargeError,
        errors.MethodNotAllowedError,
    }
    for cls in classes:
        assert issubclass(cls, errors.SDKError)
        assert getattr(tigris, cls.__name__) is cls
        assert getattr(errors, cls.__name__) is cls
    assert tigris.SDKError is errors.SDKError
