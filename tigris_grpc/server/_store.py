"""The server's storage: namespaces, user and namespace metadata, and the token signing key.

One SQLite connection serves every thread, guarded by a lock: calls are tiny, so a lock costs
less than a connection per thread, and the in-memory and on-disk stores share one code path.
On disk the database runs in WAL mode with ``synchronous=FULL``: every write is committed and
fsynced before the call that made it is answered, so an acknowledged write survives ``kill -9``.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tigris_grpc.server._config import DEFAULT_NAMESPACE

#: Code of ``default_namespace`` on the real server.
DEFAULT_NAMESPACE_CODE = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS namespaces (
    code INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS user_metadata (
    ns INTEGER NOT NULL,
    user TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (ns, user, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS namespace_metadata (
    ns INTEGER NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (ns, key)
) WITHOUT ROWID;
"""

_SIGNING_KEY = "jwt_signing_key"


class NamespaceNotFoundError(LookupError):
    """The namespace does not exist (any more)."""


class NamespaceExistsError(ValueError):
    """A namespace with that code, id or name already exists."""


@dataclass(frozen=True)
class Namespace:
    """A namespace: ``code`` is the number the server answers with as ``namespaceId``."""

    code: int
    id: str
    name: str


class Store:
    """Thread-safe storage; every method is one transaction."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        """Opens (creating if needed) the database.

        Args:
            path: The SQLite file, or ``None`` for a private in-memory database.
        """
        # isolation_level=None: autocommit, with explicit BEGIN where a call writes twice.
        self._db = sqlite3.connect(
            ":memory:" if path is None else os.fspath(path),
            check_same_thread=False,
            isolation_level=None,
        )
        self._lock = threading.Lock()
        try:
            if path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO namespaces (code, id, name) VALUES (?, ?, ?)",
                (DEFAULT_NAMESPACE_CODE, DEFAULT_NAMESPACE, DEFAULT_NAMESPACE),
            )
            rows = self._db.execute("SELECT code, id, name FROM namespaces").fetchall()
        except BaseException:
            self._db.close()
            raise
        # Every call resolves its token's namespace: keep them in a dict, read without the lock.
        self._by_id: dict[str, Namespace] = {row[1]: Namespace(*row) for row in rows}
        self._codes: set[int] = {row[0] for row in rows}

    def close(self) -> None:
        """Closes the database (checkpointing the WAL)."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction; the caller holds ``self._lock``."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- settings ------------------------------------------------------------------------------

    def signing_key(self) -> bytes:
        """Returns the token signing key, creating it on first use (persisted with the data)."""
        with self._lock, self._transaction() as db:
            row = db.execute("SELECT value FROM settings WHERE name = ?", (_SIGNING_KEY,)).fetchone()
            if row is not None:
                return bytes(row[0])
            key = secrets.token_bytes(32)
            db.execute("INSERT INTO settings (name, value) VALUES (?, ?)", (_SIGNING_KEY, key))
            return key

    # --- namespaces ----------------------------------------------------------------------------

    def namespace(self, namespace_id: str) -> Namespace | None:
        """Looks a namespace up by id, without touching the database."""
        return self._by_id.get(namespace_id)

    def namespaces(self) -> list[Namespace]:
        """All namespaces, ordered by code."""
        with self._lock:
            return sorted(self._by_id.values(), key=lambda ns: ns.code)

    def create_namespace(self, name: str, namespace_id: str = "", code: int = 0) -> Namespace:
        """Creates a namespace.

        Args:
            name: Display name; must be unique.
            namespace_id: Id (what tokens name); defaults to ``name``.
            code: Numeric code; 0 assigns the next free one.

        Returns:
            The new namespace.

        Raises:
            NamespaceExistsError: If the code, id or name is taken.
        """
        namespace_id = namespace_id or name
        with self._lock:
            with self._transaction() as db:
                if code == 0:
                    (code,) = db.execute("SELECT COALESCE(MAX(code), 0) + 1 FROM namespaces").fetchone()
                try:
                    db.execute(
                        "INSERT INTO namespaces (code, id, name) VALUES (?, ?, ?)",
                        (code, namespace_id, name),
                    )
                except sqlite3.IntegrityError as exc:
                    raise NamespaceExistsError(
                        f"namespace with code={code}, id={namespace_id!r} or name={name!r} exists"
                    ) from exc
            # Published only once committed; still under the lock, so writes see it at once.
            namespace = Namespace(code, namespace_id, name)
            self._by_id[namespace_id] = namespace
            self._codes.add(code)
        return namespace

    def ensure_namespace(self, namespace_id: str) -> Namespace:
        """Returns the namespace with this id, creating it (name = id) if needed."""
        existing = self._by_id.get(namespace_id)
        if existing is not None:
            return existing
        return self.create_namespace(namespace_id, namespace_id)

    def delete_namespace(self, namespace_id: str) -> Namespace:
        """Deletes a namespace with all its user and namespace metadata.

        Raises:
            NamespaceNotFoundError: If there is no such namespace.
        """
        with self._lock:
            namespace = self._by_id.get(namespace_id)
            if namespace is None:
                raise NamespaceNotFoundError(namespace_id)
            with self._transaction() as db:
                db.execute("DELETE FROM namespaces WHERE code = ?", (namespace.code,))
                db.execute("DELETE FROM user_metadata WHERE ns = ?", (namespace.code,))
                db.execute("DELETE FROM namespace_metadata WHERE ns = ?", (namespace.code,))
            del self._by_id[namespace_id]
            self._codes.discard(namespace.code)
        return namespace

    def namespace_stats(self, code: int) -> dict[str, int]:
        """Counts of what a namespace holds, for ``ListNamespaces(describe=true)``."""
        with self._lock:
            users, user_keys = self._db.execute(
                "SELECT COUNT(DISTINCT user), COUNT(*) FROM user_metadata WHERE ns = ?", (code,)
            ).fetchone()
            (ns_keys,) = self._db.execute("SELECT COUNT(*) FROM namespace_metadata WHERE ns = ?", (code,)).fetchone()
        return {"users": users, "user_metadata_keys": user_keys, "namespace_metadata_keys": ns_keys}

    # --- metadata ------------------------------------------------------------------------------
    # Writes re-check the namespace under the lock, so a write racing a DeleteNamespace cannot
    # leave rows behind for a code that a later namespace may reuse.

    def _check(self, code: int) -> None:
        if code not in self._codes:
            raise NamespaceNotFoundError(code)

    def get_user(self, code: int, user: str, key: str) -> bytes | None:
        """A user's value, or ``None`` if the key is not set."""
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM user_metadata WHERE ns = ? AND user = ? AND key = ?",
                (code, user, key),
            ).fetchone()
        return None if row is None else bytes(row[0])

    def insert_user(self, code: int, user: str, key: str, value: bytes) -> bool:
        """Stores a new user key; returns False (storing nothing) if it already exists."""
        with self._lock:
            self._check(code)
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO user_metadata (ns, user, key, value) VALUES (?, ?, ?, ?)",
                (code, user, key, value),
            )
        return cursor.rowcount == 1

    def upsert_user(self, code: int, user: str, key: str, value: bytes) -> None:
        """Stores a user key, overwriting any previous value."""
        with self._lock:
            self._check(code)
            self._db.execute(
                "INSERT OR REPLACE INTO user_metadata (ns, user, key, value) VALUES (?, ?, ?, ?)",
                (code, user, key, value),
            )

    def get_namespace_value(self, code: int, key: str) -> bytes | None:
        """A namespace's value, or ``None`` if the key is not set."""
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM namespace_metadata WHERE ns = ? AND key = ?", (code, key)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def insert_namespace_value(self, code: int, key: str, value: bytes) -> bool:
        """Stores a new namespace key; returns False (storing nothing) if it already exists."""
        with self._lock:
            self._check(code)
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO namespace_metadata (ns, key, value) VALUES (?, ?, ?)",
                (code, key, value),
            )
        return cursor.rowcount == 1

    def upsert_namespace_value(self, code: int, key: str, value: bytes) -> None:
        """Stores a namespace key, overwriting any previous value."""
        with self._lock:
            self._check(code)
            self._db.execute(
                "INSERT OR REPLACE INTO namespace_metadata (ns, key, value) VALUES (?, ?, ?)",
                (code, key, value),
            )
