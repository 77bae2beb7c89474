"""Admission by latency (bot/admission.py), on a clock the test moves: no sleeping."""

from __future__ import annotations

import pytest

from bot.admission import Admission


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def admission(clock: Clock, **kw: object) -> Admission:
    args: dict[str, object] = {"target_s": 0.5, "max_in_flight": 100, "interval_s": 0.1}
    args.update(kw)
    return Admission(clock=clock, **args)  # type: ignore[arg-type]


def turns(adm: Admission, clock: Clock, took: list[float]) -> None:
    """Turns that each took ``took[i]`` seconds, ending inside the current interval."""
    for seconds in took:
        adm.finished(clock.now - seconds)


def test_a_burst_whose_fastest_turn_is_quick_is_admitted() -> None:
    clock = Clock()
    adm = admission(clock)
    turns(adm, clock, [0.002, 0.9, 1.4])  # the queue behind a burst, but one turn went straight
    clock.now += 0.1
    assert adm.admit("wechat", in_flight=3)
    assert adm.standing_s() == pytest.approx(0.002)


def test_a_standing_queue_refuses_until_it_drains() -> None:
    clock = Clock()
    adm = admission(clock)
    turns(adm, clock, [0.7, 0.9, 1.2])  # even the fastest waited past 0.5 s
    clock.now += 0.1
    assert not adm.admit("wechat", in_flight=3)
    turns(adm, clock, [0.6])  # still draining in the next interval
    clock.now += 0.1
    assert not adm.admit("wechat", in_flight=1)
    turns(adm, clock, [0.01])  # drained: a turn went straight through
    clock.now += 0.1
    assert adm.admit("wechat", in_flight=0)


def test_an_interval_without_ended_turns_keeps_no_refusal() -> None:
    clock = Clock()
    adm = admission(clock)
    turns(adm, clock, [2.0])
    clock.now += 0.1
    assert not adm.admit("slack", in_flight=1)
    clock.now += 0.25  # nothing ended since: nothing says a queue still stands
    assert adm.admit("slack", in_flight=0)
    assert adm.standing_s() is None


def test_targets_are_per_platform() -> None:
    clock = Clock()
    adm = admission(clock, targets_s={"slack": 0.2, "wechat": 2.0})
    turns(adm, clock, [0.3, 0.4])
    clock.now += 0.1
    assert not adm.admit("slack", in_flight=2)  # Slack acks within 3 s: a tighter budget
    assert adm.admit("wechat", in_flight=2)
    assert adm.admit("web", in_flight=2)  # the default target, 0.5 s, admits 0.3


def test_max_in_flight_guards_memory_whatever_the_latency() -> None:
    clock = Clock()
    adm = admission(clock, max_in_flight=2)
    turns(adm, clock, [0.001])
    clock.now += 0.1
    assert adm.admit("web", in_flight=1)
    assert not adm.admit("web", in_flight=2)
