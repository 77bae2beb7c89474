"""Chinese numerals to numbers: 三百五十 -> 350, 两千零五 -> 2005, 一万二 -> 12000."""

from __future__ import annotations

DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "壹": 1,
    "二": 2,
    "两": 2,
    "贰": 2,
    "三": 3,
    "叁": 3,
    "四": 4,
    "肆": 4,
    "五": 5,
    "伍": 5,
    "六": 6,
    "陆": 6,
    "七": 7,
    "柒": 7,
    "八": 8,
    "捌": 8,
    "九": 9,
    "玖": 9,
}
UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
BIG = {"万": 10_000, "萬": 10_000, "亿": 100_000_000}
CHARS = "".join(DIGITS) + "".join(UNITS) + "".join(BIG)


def parse_chinese_number(text: str) -> int | None:
    """The value of a Chinese numeral, or None if ``text`` is not one."""
    if not text or any(ch not in CHARS for ch in text):
        return None
    if all(ch in DIGITS for ch in text) and len(text) > 1:  # 二零二三 read digit by digit
        return int("".join(str(DIGITS[ch]) for ch in text))
    total, section, digit, last_unit = 0, 0, None, 1
    for ch in text:
        if ch in DIGITS:
            digit = DIGITS[ch]
        elif ch in UNITS:
            section += (1 if digit is None else digit) * UNITS[ch]
            last_unit, digit = UNITS[ch], None
        else:
            total += (section + (digit or 0)) * BIG[ch]
            section, digit, last_unit = 0, None, BIG[ch]
    if digit is not None:
        # 一万二 means 12000 and 三百五 means 350: a trailing digit counts one unit down
        section += digit * (last_unit // 10 if last_unit >= 100 and text[-2] not in "零〇" else 1)
    return total + section
