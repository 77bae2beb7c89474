"""Learning from traffic: low-confidence and fallback messages, counted per text.

Texts are PII-masked and normalised before they are stored, so the export is
safe to hand to labellers. One Redis hash per day keeps counts; a second keeps
the model's best guess, which the CSV carries as a labelling hint.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import cast

import redis.asyncio as aioredis

from bot.pii import mask_pii
from nlu.normalize import normalize

TTL_S = 90 * 86400


class MissRecorder:
    """Counts messages the bot did not understand well, per day."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _keys(self, day: dt.date) -> tuple[str, str]:
        stamp = day.strftime("%Y%m%d")
        return f"{self._prefix}:misses:{stamp}", f"{self._prefix}:misses-guess:{stamp}"

    async def record(self, text: str, guess: str, *, day: dt.date | None = None) -> None:
        """Count one miss of ``text`` (masked and normalised first)."""
        clean = mask_pii(normalize(text))[:500]
        if not clean:
            return
        counts, guesses = self._keys(day or dt.date.today())
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(counts, clean, 1)
            pipe.hset(guesses, clean, guess)
            pipe.expire(counts, TTL_S)
            pipe.expire(guesses, TTL_S)
            await pipe.execute()

    async def export(self, path: Path, *, since: dt.date, until: dt.date | None = None) -> int:
        """Write ``text,count,guess,intent`` rows (``intent`` left for labellers); returns rows."""
        totals: dict[str, int] = {}
        guesses: dict[str, str] = {}
        day, last = since, until or dt.date.today()
        while day <= last:
            counts_key, guess_key = self._keys(day)
            counts = cast(dict[bytes, bytes], await self._redis.hgetall(counts_key))
            for raw, count in counts.items():
                totals[raw.decode()] = totals.get(raw.decode(), 0) + int(count)
            found = cast(dict[bytes, bytes], await self._redis.hgetall(guess_key))
            guesses.update({k.decode(): v.decode() for k, v in found.items()})
            day += dt.timedelta(days=1)
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "count", "guess", "intent"])
            for text, total in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])):
                writer.writerow([text, total, guesses.get(text, ""), ""])
        return len(totals)
