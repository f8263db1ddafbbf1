"""Size limits of the real Tigris server, shared by the client's validation and the local server."""

from __future__ import annotations

#: FoundationDB's cap on one value; the real server answers INTERNAL above it.
MAX_VALUE_BYTES = 100_000
#: FoundationDB's cap on one key.
MAX_KEY_BYTES = 10_000
#: gRPC message limit of the real server (both directions).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
