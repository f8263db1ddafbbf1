"""Quickstart: user metadata over gRPC, written the way the REST SDK's users already write it.

Connection and credentials come from the environment, as in production:
``TIGRIS_URI`` (e.g. ``localhost:8081``) and ``TIGRIS_CLIENT_ID`` / ``TIGRIS_CLIENT_SECRET``
(or ``TIGRIS_TOKEN``). ``make demo`` runs it against the local server.
"""

from __future__ import annotations

import uuid

import tigris_grpc as tigris
from tigris_grpc.models import errors, operations, shared


def main() -> None:
    key = f"theme-{uuid.uuid4().hex[:8]}"  # fresh each run, so inserting it is always new
    with tigris.Tigris() as s:
        print(f"connected to {s.server_url}; healthy: {s.health()}")

        # The REST SDK's own request objects work unchanged...
        req = operations.ManagementGetUserMetadataRequest(
            get_user_metadata_request=shared.GetUserMetadataRequest(),
            metadata_key=key,
        )
        res = s.user.get_metadata(req)
        if res.get_user_metadata_response is not None:
            print(f"get {key!r} before insert -> value {res.get_user_metadata_response.value!r}")

        # ...and so does the shorter, flattened form.
        res_insert = s.user.insert_metadata(metadata_key=key, value={"mode": "dark", "font": 14})
        body = res_insert.insert_user_metadata_response
        assert body is not None
        print(f"insert {key!r} -> user {body.user_id!r}, namespace {body.namespace_id}, value {body.value!r}")

        got = s.user.get_metadata(metadata_key=key).get_user_metadata_response
        assert got is not None
        print(f"get {key!r} -> {got.value!r}")

        s.user.update_metadata(metadata_key=key, value={"mode": "light", "font": 16})
        got = s.user.get_metadata(metadata_key=key).get_user_metadata_response
        assert got is not None
        print(f"update then get {key!r} -> {got.value!r}")

        missing = s.user.get_metadata(metadata_key="no-such-key").get_user_metadata_response
        assert missing is not None
        print(f"get a missing key -> value {missing.value!r}")

        try:
            s.user.insert_metadata(metadata_key=key, value={"mode": "again"})
        except errors.SDKError as e:
            # Tigris refuses an insert of an existing key; update is the upsert.
            print(
                f"insert of an existing key -> {type(e).__name__} (code {e.code}, status {e.status_code}): {e.message}"
            )


if __name__ == "__main__":
    main()
