"""The durable record: every inbound message, reply and ticket event, append-only.

Redis is the hot state; this is the history that reports and transcripts read.
Writes go through a bounded queue off the reply path (:class:`RecordWriter`);
when the queue is full the record is counted and dropped, never blocking a reply.
SQLite under the data directory by default, PostgreSQL through ``DATABASE_URL``.
"""

from bot.records.model import Record
from bot.records.store import RecordStore, open_store
from bot.records.writer import RecordWriter

__all__ = ["Record", "RecordStore", "RecordWriter", "open_store"]
