"""Issuing and verifying the server's access tokens (HS256 JWTs, via PyJWT)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt

#: The claim under which Tigris puts the namespace: ``{"https://tigris": {"nc": "<id>"}}``.
NAMESPACE_CLAIM = "https://tigris"
_ISSUER = "tigris-grpc-local"
_ALGORITHM = "HS256"


class TokenError(Exception):
    """The token is not one this server issued, is malformed, or has expired."""


@dataclass(frozen=True)
class Identity:
    """Who a verified token speaks for."""

    user: str
    """The ``sub`` claim."""

    namespace: str
    """The namespace id from the ``https://tigris`` ``nc`` claim."""

    expires_at: int
    """The ``exp`` claim (Unix seconds)."""


class TokenAuthority:
    """Signs tokens with one secret key and verifies them, caching verified tokens.

    Verification runs on every Management call, and a JWT signature check costs about as much
    as the rest of the call, so verified tokens are cached (bounded, oldest evicted first). The
    expiry is still checked on every use.
    """

    def __init__(self, key: bytes, *, cache_size: int = 4096) -> None:
        """Creates the authority.

        Args:
            key: The HMAC key (32 random bytes; persisted with ``--data``).
            cache_size: How many verified tokens to remember.
        """
        self._key = key
        self._cache: dict[str, Identity] = {}
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()

    def issue(self, user: str, namespace: str, ttl: int) -> str:
        """Signs a token.

        Args:
            user: The ``sub`` claim.
            namespace: The namespace id for the ``nc`` claim.
            ttl: Lifetime in seconds; zero or negative gives an already expired token (for
                tests of expiry).

        Returns:
            The encoded JWT.
        """
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": _ISSUER,
            "sub": user,
            "iat": min(now, now + ttl),  # an expired test token must not be "issued in future"
            "exp": now + ttl,
            NAMESPACE_CLAIM: {"nc": namespace},
        }
        return jwt.encode(payload, self._key, algorithm=_ALGORITHM)

    def verify(self, token: str) -> Identity:
        """Checks a token's signature, claims and expiry.

        Args:
            token: The encoded JWT from the ``authorization`` header.

        Returns:
            The identity the token names.

        Raises:
            TokenError: If the token is invalid or expired. The message never contains the token.
        """
        identity = self._cache.get(token)  # a dict read is atomic: no lock on the hot path
        if identity is None:
            identity = self._decode(token)
            with self._cache_lock:
                if len(self._cache) >= self._cache_size:
                    del self._cache[next(iter(self._cache))]  # dicts keep insertion order
                self._cache[token] = identity
        if identity.expires_at <= time.time():
            raise TokenError("token has expired")
        return identity

    def _decode(self, token: str) -> Identity:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                options={"require": ["exp", "sub", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid token ({type(exc).__name__})") from exc
        namespace = claims.get(NAMESPACE_CLAIM)
        nc = namespace.get("nc") if isinstance(namespace, dict) else None
        sub = claims["sub"]
        if not isinstance(nc, str) or not nc or not isinstance(sub, str) or not sub:
            raise TokenError("invalid token (missing namespace or subject)")
        return Identity(user=sub, namespace=nc, expires_at=int(claims["exp"]))
