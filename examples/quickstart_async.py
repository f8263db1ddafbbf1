"""The quickstart on asyncio: the REST SDK's example with ``await``, then many calls at once.

Same environment as quickstart.py (``TIGRIS_URI``, ``TIGRIS_CLIENT_ID`` / ``TIGRIS_CLIENT_SECRET``).
"""

from __future__ import annotations

import asyncio
import uuid

import tigris_grpc as tigris
from tigris_grpc.models import operations, shared


async def main() -> None:
    prefix = f"async-{uuid.uuid4().hex[:8]}"
    async with tigris.AsyncTigris() as s:
        req = operations.ManagementGetUserMetadataRequest(
            get_user_metadata_request=shared.GetUserMetadataRequest(),
            metadata_key=f"{prefix}-theme",
        )
        res = await s.user.get_metadata(req)
        if res.get_user_metadata_response is not None:
            print(f"get before insert -> {res.get_user_metadata_response.value!r}")

        # One channel, many calls in flight.
        await asyncio.gather(
            *(s.user.update_metadata(metadata_key=f"{prefix}-{i}", value={"n": i}) for i in range(100))
        )
        answers = await asyncio.gather(*(s.user.get_metadata(metadata_key=f"{prefix}-{i}") for i in range(100)))
        values = [a.get_user_metadata_response.value for a in answers if a.get_user_metadata_response is not None]
        print(f"100 concurrent updates, then gets -> {sum(v['n'] for v in values)} (expected {sum(range(100))})")


if __name__ == "__main__":
    asyncio.run(main())
