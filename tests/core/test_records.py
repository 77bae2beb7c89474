"""The durable record: SQLite by default, PostgreSQL through DATABASE_URL."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest

from bot.records import Record, RecordWriter, open_store
from bot.records.writer import DROPPED
from tests.core.test_pipeline import SlowEcho
from tests.helpers import RecordingChannel, message

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


async def _pg_available() -> bool:
    try:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(PG_URL, connect_timeout=2)
        await conn.close()
        return True
    except Exception:
        return False


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'records.db'}"
    if not await _pg_available():
        pytest.skip(f"no PostgreSQL at {PG_URL}")
    return PG_URL


async def test_round_trip_and_filters(store_url: str, tmp_path: Path) -> None:
    store = await open_store(database_url=store_url, data_dir=tmp_path)
    conv = f"test:acct:{uuid.uuid4().hex}"
    await store.write(
        [
            Record(
                kind="in",
                platform="test",
                conversation=conv,
                text="你好",
                intent="greet",
                confidence=0.9,
                ts=1000.0,
            ),
            Record(kind="out", platform="test", conversation=conv, text="您好", ts=1001.0),
            Record(
                kind="ticket",
                platform="test",
                conversation=conv,
                ticket_id="T1",
                event="opened",
                data={"reason": "human_agent"},
                ts=1002.0,
            ),
        ]
    )
    rows = await store.query(conversation=conv)
    assert [r.kind for r in rows] == ["in", "out", "ticket"]
    assert rows[0].intent == "greet" and rows[0].confidence == pytest.approx(0.9)
    assert rows[2].data == {"reason": "human_agent"}
    assert [r.kind for r in await store.query(conversation=conv, since=1001.0)] == ["out", "ticket"]
    assert [r.event for r in await store.query(ticket_id="T1", conversation=conv)] == ["opened"]
    await store.close()


async def test_pipeline_records_messages_and_replies_masked(make_runtime) -> None:
    rt = await make_runtime()
    rt.add_channels([RecordingChannel()])
    rt.use(brain=SlowEcho())
    await rt.pipeline.handle(message("我的手机 13812345678", mid="m1"), rt.outbound)
    await rt.records.flush()
    assert rt.records.store is not None
    rows = await rt.records.store.query(conversation="test:acct:u1")
    assert [r.kind for r in rows] == ["in", "out"]
    assert "13812345678" not in rows[0].text and "138****5678" in rows[0].text
    assert rows[0].event == "replied"


async def test_full_queue_is_counted_never_blocks(tmp_path: Path) -> None:
    writer = RecordWriter(max_queue=2)
    before = DROPPED._value.get()
    results = [writer.add(Record(kind="in", platform="t", conversation="c")) for _ in range(5)]
    assert results == [True, True, False, False, False]
    assert DROPPED._value.get() - before == 3
    store = await open_store(database_url=None, data_dir=tmp_path)
    await writer.start(store)
    await asyncio.sleep(0)
    await writer.stop()
    reopened = await open_store(database_url=None, data_dir=tmp_path)
    assert len(await reopened.query()) == 2
    await reopened.close()


async def test_a_lone_surrogate_is_stored_replaced_and_a_bad_record_drops_alone(
    tmp_path: Path,
) -> None:
    # A platform's JSON may carry "\ud800": a valid str that no database driver encodes.
    writer = RecordWriter()
    writer.add(Record(kind="in", platform="t", conversation="c", text="hi \ud800", ts=1.0))
    writer.add(Record(kind="in", platform="t", conversation="c\udfff", ts=2.0))  # key column
    writer.add(Record(kind="out", platform="t", conversation="c", data={"x": "\ud800"}, ts=3.0))
    store = await open_store(database_url=None, data_dir=tmp_path)
    await writer.start(store)
    await writer.stop()
    reopened = await open_store(database_url=None, data_dir=tmp_path)
    rows = await reopened.query()
    await reopened.close()
    assert [(r.kind, r.ts) for r in rows] == [("in", 1.0), ("out", 3.0)]
    assert rows[0].text == "hi \ufffd" and rows[1].data == {"x": "\ufffd"}
