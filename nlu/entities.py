"""Rule extractors for what customer service needs, with exact spans.

Order numbers, courier tracking numbers (common Chinese carriers), mainland
mobile numbers, e-mail, money (Arabic or Chinese numerals), dates and
relative times, and quantities. Extraction runs on the position-preserving
folded text (:func:`nlu.normalize.fold`), so every ``start``/``end`` indexes
the original message. Overlaps are resolved by priority, then by length.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator

from nlu.dates import find_dates
from nlu.normalize import fold
from nlu.numerals import CHARS as ZH_NUM_CHARS
from nlu.numerals import parse_chinese_number
from nlu.types import Entity

# Carrier formats: SF Express SF+12 or SF+13 digits (newer waybills), YTO YT+13,
# JD JD+13 alnum, J&T JT+13, EMS E?+9 digits+CN, ZTO 14 digits starting 7 (73/75/76/78),
# Yunda 13 digits starting 3/4.
_TRACKING = re.compile(
    r"(?<![0-9a-z])(sf\d{12,13}|yt\d{13}|jd[0-9a-z]{13}|jt\d{13}|e[a-z]\d{9}cn"
    r"|7[3568]\d{12}|[34]\d{12})"
    r"(?![0-9a-z])"
)
_PHONE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?!\d)")
_ORDER = re.compile(r"(?<![0-9a-z])(\d{10,20})(?![0-9a-z])")
_ORDER_AFTER_KEYWORD = re.compile(
    r"(?:订单号?|单号|order(?: no\.?| number| #)?)\s*[:：#]?\s*([0-9a-z]{6,24})"
)
_EMAIL = re.compile(r"[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}")
_ZH_NUM = f"[{ZH_NUM_CHARS}]+"
_MONEY = re.compile(
    rf"(?:[¥￥]|rmb ?)(\d+(?:\.\d{{1,2}})?)|(\d+(?:\.\d{{1,2}})?) ?(?:元|块钱|块|rmb|yuan)"
    rf"|({_ZH_NUM}) ?(?:元|块钱|块)"
)
_QUANTITY = re.compile(
    rf"(\d+|{_ZH_NUM}) ?(件|个|双|箱|台|份|包|瓶|盒|条|本|张|套|袋|只|支)"
    r"|(\d+) ?(pcs|pieces|items|boxes|pairs|units)\b"
)

Extractor = Callable[[str, dt.date], Iterator[Entity]]


def _tracking(folded: str, today: dt.date) -> Iterator[Entity]:
    for m in _TRACKING.finditer(folded):
        yield Entity("tracking_no", "", m.group(1).upper(), m.start(1), m.end(1))


def _phone(folded: str, today: dt.date) -> Iterator[Entity]:
    for m in _PHONE.finditer(folded):
        yield Entity("phone", "", "".join(m.groups()), m.start(), m.end())


def _email(folded: str, today: dt.date) -> Iterator[Entity]:
    for m in _EMAIL.finditer(folded):
        yield Entity("email", "", m.group(0), m.start(), m.end())


def _order(folded: str, today: dt.date) -> Iterator[Entity]:
    for m in _ORDER_AFTER_KEYWORD.finditer(folded):
        yield Entity("order_id", "", m.group(1).upper(), m.start(1), m.end(1))
    for m in _ORDER.finditer(folded):
        yield Entity("order_id", "", m.group(1), m.start(1), m.end(1))


def _money(folded: str, today: dt.date) -> Iterator[Entity]:
    for m in _MONEY.finditer(folded):
        raw = m.group(1) or m.group(2)
        value = float(raw) if raw else parse_chinese_number(m.group(3))
        if value is not None:
            yield Entity("money", "", float(value), m.start(), m.end())


def _quantity(folded: str, today: dt.date) -> Iterator[Entity]:
    for m in _QUANTITY.finditer(folded):
        raw = m.group(1) or m.group(3)
        value = int(raw) if raw.isdigit() else parse_chinese_number(raw)
        if value is not None:
            yield Entity("quantity", "", value, m.start(), m.end())


def _date(folded: str, today: dt.date) -> Iterator[Entity]:
    for start, end, value in find_dates(folded, today):
        yield Entity("date", "", value, start, end)


# Earlier wins an overlap: a tracking number is never also an order number,
# and a money amount is not also a quantity.
EXTRACTORS: tuple[Extractor, ...] = (_email, _tracking, _phone, _order, _money, _date, _quantity)


def extract(text: str, *, today: dt.date | None = None) -> list[Entity]:
    """Every entity in ``text``, in order of position, spans into ``text`` itself."""
    folded = fold(text)
    today = today or dt.date.today()
    chosen: list[Entity] = []
    for extractor in EXTRACTORS:
        found = sorted(extractor(folded, today), key=lambda e: e.start - e.end)  # longest first
        for entity in found:
            if any(entity.start < c.end and c.start < entity.end for c in chosen):
                continue
            chosen.append(_with_value(entity, text))
    return sorted(chosen, key=lambda e: e.start)


def _with_value(entity: Entity, text: str) -> Entity:
    # The reported value is the exact substring of the original, not the folded text.
    return Entity(
        entity.type,
        text[entity.start : entity.end],
        entity.normalized,
        entity.start,
        entity.end,
        source="rule",
    )
