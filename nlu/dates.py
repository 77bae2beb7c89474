"""Dates and relative times in Chinese and English, normalised to ISO.

``今天``, ``明天下午``, ``下周一``, ``3月5号``, ``2026-03-05``, ``tomorrow``,
``next monday``, ``March 5``. A part of day (上午/下午/晚上, morning/afternoon)
makes the value an ISO datetime at a typical hour of that part.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

from nlu.numerals import parse_chinese_number

_NUM = r"(?:\d{1,2}|[一二两三四五六七八九十]{1,3})"
_WEEKDAYS_ZH = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_WEEKDAYS_EN = {
    d: i
    for i, d in enumerate(
        ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    )
}
_MONTHS_EN = {
    m: i + 1
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ]
    )
}
_PARTS = {
    "凌晨": 3,
    "早上": 8,
    "上午": 9,
    "中午": 12,
    "下午": 14,
    "傍晚": 18,
    "晚上": 19,
    "morning": 9,
    "noon": 12,
    "afternoon": 14,
    "evening": 19,
    "tonight": 20,
}
_PART_RE = "(?:" + "|".join(_PARTS) + ")"
_RELATIVE = {
    "大后天": 3,
    "后天": 2,
    "明天": 1,
    "明儿": 1,
    "今天": 0,
    "今儿": 0,
    "昨天": -1,
    "day after tomorrow": 2,
    "tomorrow": 1,
    "today": 0,
    "yesterday": -1,
}

_PATTERNS = [
    ("iso", re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")),
    ("ymd_zh", re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})[日号]")),
    ("md_zh", re.compile(rf"({_NUM})月({_NUM})[日号]?")),
    ("relative", re.compile("|".join(sorted(map(re.escape, _RELATIVE), key=len, reverse=True)))),
    ("week_zh", re.compile(r"(下下|下|这|本|上)?(?:周|星期|礼拜)([一二三四五六日天])")),
    ("week_en", re.compile(r"\b(next |this )?(" + "|".join(_WEEKDAYS_EN) + r")\b")),
    ("md_en", re.compile(r"\b(" + "|".join(_MONTHS_EN) + r")\s+(\d{1,2})(?:st|nd|rd|th)?\b")),
]


def _num(text: str) -> int:
    return int(text) if text.isdigit() else (parse_chinese_number(text) or 0)


def _next_year_if_past(month: int, day: int, today: dt.date) -> dt.date:
    date = dt.date(today.year, month, day)
    return date if date >= today else dt.date(today.year + 1, month, day)


def _resolve(kind: str, m: re.Match[str], today: dt.date) -> dt.date:
    if kind in ("iso", "ymd_zh"):
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if kind == "md_zh":
        return _next_year_if_past(_num(m.group(1)), _num(m.group(2)), today)
    if kind == "md_en":
        return _next_year_if_past(_MONTHS_EN[m.group(1)], int(m.group(2)), today)
    if kind == "relative":
        return today + dt.timedelta(days=_RELATIVE[m.group(0)])
    if kind == "week_zh":
        target = _WEEKDAYS_ZH[m.group(2)]
        weeks = {"下下": 2, "下": 1, "上": -1}.get(m.group(1) or "", 0)
        monday = today - dt.timedelta(days=today.weekday())
        date = monday + dt.timedelta(weeks=weeks, days=target)
        return date if m.group(1) or date >= today else date + dt.timedelta(weeks=1)
    target = _WEEKDAYS_EN[m.group(2)]
    ahead = (target - today.weekday()) % 7
    if m.group(1) == "next " and ahead == 0:
        ahead = 7
    return today + dt.timedelta(days=ahead)


def find_dates(folded: str, today: dt.date) -> Iterator[tuple[int, int, str]]:
    """(start, end, ISO value) for each date in ``folded`` text (already lower-cased)."""
    taken: list[tuple[int, int]] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(folded):
            start, end = m.span()
            if any(start < e and s < end for s, e in taken):
                continue
            try:
                date = _resolve(kind, m, today)
            except ValueError:  # 2月30号 and friends: not a date
                continue
            part = re.match(r"\s*(" + _PART_RE + ")", folded[end:])
            value = date.isoformat()
            if part:
                end += part.end()
                value = dt.datetime(
                    date.year, date.month, date.day, _PARTS[part.group(1)]
                ).isoformat(timespec="minutes")
            taken.append((start, end))
            yield start, end, value
