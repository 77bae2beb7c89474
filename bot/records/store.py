"""Record stores: SQLite (default) and PostgreSQL, behind one small interface."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bot.records.model import COLUMNS, Record

T = TypeVar("T")

_DDL = """
CREATE TABLE IF NOT EXISTS bot_records (
    id {serial} PRIMARY KEY,
    ts DOUBLE PRECISION NOT NULL,
    kind TEXT NOT NULL,
    platform TEXT NOT NULL,
    conversation TEXT NOT NULL,
    user_id TEXT,
    message_id TEXT,
    ticket_id TEXT,
    event TEXT,
    intent TEXT,
    confidence DOUBLE PRECISION,
    text TEXT,
    data TEXT
)
"""
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS bot_records_ts ON bot_records (ts)",
    "CREATE INDEX IF NOT EXISTS bot_records_conv ON bot_records (conversation, ts)",
    "CREATE INDEX IF NOT EXISTS bot_records_ticket ON bot_records (ticket_id)",
)


def _insert(mark: str) -> str:
    """The INSERT statement with ``mark`` as the parameter placeholder."""
    return (
        f"INSERT INTO bot_records ({', '.join(COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(COLUMNS))})"
    )


class RecordStore(Protocol):
    """Append records; read them back for reports and transcripts."""

    async def write(self, records: Sequence[Record]) -> None:
        """Append ``records`` in one transaction."""

    async def query(
        self,
        *,
        since: float | None = None,
        conversation: str | None = None,
        ticket_id: str | None = None,
    ) -> list[Record]:
        """Records matching every given filter, oldest first."""

    async def close(self) -> None:
        """Release connections."""


def _select(
    mark: str, since: float | None, conversation: str | None, ticket_id: str | None
) -> tuple[str, list[Any]]:
    """The filtered SELECT, oldest first, with ``mark`` as the parameter placeholder."""
    clauses, params = [], []
    for column, op, value in (
        ("ts", ">=", since),
        ("conversation", "=", conversation),
        ("ticket_id", "=", ticket_id),
    ):
        if value is not None:
            clauses.append(f"{column} {op} {mark}")
            params.append(value)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    return f"SELECT {', '.join(COLUMNS)} FROM bot_records{where} ORDER BY ts, id", params


class SqliteStore:
    """SQLite on one dedicated worker thread, so every call is serialised there."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_DDL.format(serial="INTEGER"))
        for ddl in _INDEXES:
            self._db.execute(ddl)
        # One thread owns the connection: a cancelled caller can never leave a
        # statement running while another starts or the connection closes.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="records-sqlite")

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    async def write(self, records: Sequence[Record]) -> None:
        sql = _insert("?")
        rows = [r.row() for r in records]

        def run() -> None:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(sql, rows)

        await self._run(run)

    async def query(
        self,
        *,
        since: float | None = None,
        conversation: str | None = None,
        ticket_id: str | None = None,
    ) -> list[Record]:
        sql, params = _select("?", since, conversation, ticket_id)
        rows = await self._run(lambda: self._db.execute(sql, params).fetchall())
        return [Record.from_row(dict(row)) for row in rows]

    async def close(self) -> None:
        await self._run(self._db.close)
        self._thread.shutdown(wait=True)


class PostgresStore:
    """PostgreSQL through psycopg's async connection."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, url: str) -> PostgresStore:
        """Connect and create the table if needed."""
        import psycopg
        from psycopg.rows import dict_row

        conn = await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)
        await conn.execute(_DDL.format(serial="BIGSERIAL"))
        for ddl in _INDEXES:
            await conn.execute(ddl)
        return cls(conn)

    async def write(self, records: Sequence[Record]) -> None:
        sql = _insert("%s")
        async with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
            await cur.executemany(sql, [r.row() for r in records])

    async def query(
        self,
        *,
        since: float | None = None,
        conversation: str | None = None,
        ticket_id: str | None = None,
    ) -> list[Record]:
        sql, params = _select("%s", since, conversation, ticket_id)
        async with self._lock:
            cur = await self._conn.execute(sql, params)
            rows = await cur.fetchall()
        return [Record.from_row(row) for row in rows]

    async def close(self) -> None:
        await self._conn.close()


async def open_store(*, database_url: str | None, data_dir: Path) -> RecordStore:
    """PostgreSQL for ``postgres(ql)://``, else SQLite (``sqlite:///path`` or the data dir)."""
    if database_url and database_url.startswith(("postgres://", "postgresql://")):
        return await PostgresStore.connect(database_url)
    if database_url and database_url.startswith("sqlite:///"):
        return SqliteStore(Path(database_url.removeprefix("sqlite:///")))
    if database_url:
        raise ValueError(f"unsupported DATABASE_URL scheme: {database_url.split(':', 1)[0]}")
    return SqliteStore(data_dir / "records.db")
