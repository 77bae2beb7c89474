"""The conversation's language, decided by what the customer actually writes.

A conversation is in Chinese or English. Only a substantive message decides it:
one with Chinese characters, or with English words. "ok", digits, order and
tracking numbers (``SF123456789012`` has letters too), links, emoji, WeChat's
``[微笑]`` and keyboard mashing keep the language the conversation already has,
so a Chinese customer who types "ok" or pastes a tracking number is still
answered in Chinese.
"""

from __future__ import annotations

import re

ZH, EN = "zh-CN", "en"

# Tokens that carry no language: anything with a digit (order, tracking and phone
# numbers), links, e-mail addresses and @mentions; and [emoji] codes anywhere.
# Tested token by token: a pattern like \S*\d\S* over the whole text backtracks
# quadratically on a long run without spaces (100,000 characters took minutes).
_EMOJI_CODE = re.compile(r"\[[^\]]{1,8}\]")
_NOISE_TOKEN = re.compile(r"\d|://|@")
_ADDRESS_TOKEN = re.compile(r"://|@")
_LOOKED_AT = 2000  # characters: more never changes the answer, and bounds the cost
_CJK = re.compile(r"[\u4e00-\u9fff]")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_VOWEL = re.compile(r"[aeiouy]")
_MASH = re.compile(r"[^aeiouy]{5}|(.)\1\1")  # "sdfgh", "aaaa": keyboard mashing
# Words any customer types whatever their language; they never decide it.
NEUTRAL = frozenset(
    "ok okay okk okey k kk yes yep yeah y no nope n hi hey lol haha hah hmm emm em ah oh "
    "thx pls plz sf jd yt ems qq vip app wifi id".split()
)
# Common English words: one of them makes a message English; without one it takes
# three plausible words, so that two mashed "words" do not flip the language.
COMMON = frozenset(
    """
    i me my you your we our it is are am was be been do does did can could will would should
    the a an this that these those what where when why how who which there here
    and or but not don't can't isn't to of in on for with from at by about please
    hello thanks thank bye goodbye help want need like know get got have has had
    order orders parcel package delivery deliver shipping shipped ship track tracking
    return refund invoice address cancel change agent human person bot robot
    sorry wait wrong still yet again now today tomorrow
    fee cost price free size colour color item items product pay paid payment card account
    coupon discount store shop buy bought late lost broken damaged missing arrive arrived
    received send sent call speak talk
    """.split()
)


def detect_lang(message: str, default: str = ZH, *, opening: bool = False) -> str:
    """``zh-CN`` or ``en`` when ``message`` says which, else ``default`` (the conversation's).

    ``opening``: the conversation's first message. No language is established yet,
    so the neutral words count as English too: "hey" as a first message is English,
    while "ok" in a Chinese conversation keeps it Chinese.
    """
    tokens = _EMOJI_CODE.sub(" ", message[:_LOOKED_AT].lower()).split()
    # Chinese glued to a number ("订单20231122002的快递到哪了") is still Chinese: only
    # links and mentions are set aside for that test.
    if any(_CJK.search(t) and not _ADDRESS_TOKEN.search(t) for t in tokens):
        return ZH
    text = " ".join(t for t in tokens if not _NOISE_TOKEN.search(t))
    words = [w for w in _WORD.findall(text) if _is_word(w, neutral_counts=opening)]
    if opening and words:
        return EN
    if any(w in COMMON for w in words) or len(words) >= 3:
        return EN
    return default


def _is_word(word: str, *, neutral_counts: bool = False) -> bool:
    """A plausible English word: not neutral (unless they count), not a single letter,
    not mashed keys."""
    if len(word) < 2 or (word in NEUTRAL and not neutral_counts):
        return False
    return bool(_VOWEL.search(word)) and not _MASH.search(word)
