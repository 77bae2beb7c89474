"""The tables ``bench/scaling.py`` prints, and the capacity model they derive.

Split from the runs so that what is measured and how it is reported read apart; the
formulas of the model are in :func:`model_table` and docs/scaling.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from bench.redis_nodes import NOTHING, Bench, RedisUse

TARGETS = (1_000, 10_000, 100_000)


def rate(r: dict[str, Any]) -> float:
    """wrk's answered requests per second."""
    return float(r["requests"]) / (r["duration_us"] / 1e6)


@dataclass
class BotRun:
    """One measured wrk run against replicas, with what the replicas and Redis spent on it."""

    label: str
    wrk: dict[str, Any]
    cpu_s: list[float]  # per replica (its process tree)
    redis: list[RedisUse]  # per Redis node
    records: list[str]  # per replica, the records check of bench/wechat_wrk.py

    @property
    def messages(self) -> int:
        """Messages answered with a 200 (a 503 asks the platform to retry later)."""
        return sum(self.wrk["by_thread"])

    @property
    def rate(self) -> float:
        """Messages answered per second."""
        return self.messages / self.seconds

    @property
    def seconds(self) -> float:
        """wrk's duration."""
        return float(self.wrk["duration_us"]) / 1e6

    @property
    def redis_total(self) -> RedisUse:
        """All nodes together."""
        return sum(self.redis, NOTHING)

    def per_msg(self, amount: float) -> float:
        """``amount`` per message answered."""
        return amount / self.messages


# -- the report --------------------------------------------------------------------------


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def runs_table(echo: dict[str, Any], runs: list[BotRun]) -> str:
    """Throughput of the echo floor and each bot run, replica by replica where several."""
    floor = rate(echo)
    header = ["run", "msg/s", "ratio to echo", "p50 ms", "p99 ms", "non-2xx / wrk errors"]
    header += ["replies by API (passive window missed)"]
    header += ["CPU ms/msg: replicas / Redis / wrk", "busy% / steal% / load1"]

    def row(label: str, r: dict[str, Any], answered: int, cpu: list[float]) -> list[str]:
        m = r["machine"]
        errors = r["connect"] + r["read"] + r["write"] + r["timeout"]
        per_s = answered / (r["duration_us"] / 1e6)
        return [
            label,
            f"{per_s:,.0f}",
            f"{per_s / floor:.3f}",
            f"{r['p50_us'] / 1000:.1f}",
            f"{r['p99_us'] / 1000:.1f}",
            f"{r['status']} / {errors}",
            f"{r['later']}",
            " / ".join(f"{1000 * c / answered:.2f}" for c in cpu),
            f"{m.busy_pct:.0f} / {m.steal_pct:.0f} / {m.load1:.1f}",
        ]

    rows = [row("echo (1 process)", echo, echo["requests"], [echo["server_cpu_s"]])]
    for run in runs:
        cpu = [sum(run.cpu_s), run.redis_total.cpu_s, run.wrk["driver_cpu_s"]]
        rows.append(row(run.label, run.wrk, run.messages, cpu))
        for i, cpu_s in enumerate(run.cpu_s if len(run.cpu_s) > 1 else []):
            answered = run.wrk["by_thread"][i]
            per_s = answered / run.seconds
            cpu_ms = f"{1000 * cpu_s / answered:.2f}"
            rows.append(
                [f"- replica {i}", f"{per_s:,.0f}", f"{per_s / floor:.3f}", *[""] * 4, cpu_ms, ""]
            )
    return table(header, rows)


def redis_table(runs: list[BotRun]) -> str:
    """Redis commands (script-internal ones included), bytes and CPU per message."""

    def row(label: str, amount: Callable[[RedisUse], float], fmt: str) -> list[str]:
        return [label] + [format(run.per_msg(amount(run.redis_total)), fmt) for run in runs]

    first = runs[0].redis_total.calls
    names = sorted(
        set().union(*(run.redis_total.calls for run in runs)), key=lambda k: -first.get(k, 0)
    )
    rows = [row(k, partial(RedisUse.called, name=k), ".2f") for k in names]
    rows.append(row("**all commands**", lambda t: t.ops, ".2f"))
    rows.append(row("bytes to Redis", lambda t: t.net_in, ",.0f"))
    rows.append(row("bytes from Redis", lambda t: t.net_out, ",.0f"))
    rows.append(row("Redis CPU µs", lambda t: 1e6 * t.cpu_s, ",.0f"))
    return table(["per message answered", *(run.label for run in runs)], rows)


def nodes_table(run: BotRun) -> str:
    """How a cluster run's Redis work fell on each node."""
    total = run.redis_total.ops or 1
    rows = [
        [
            f"node {i}",
            f"{node.ops / run.seconds:,.0f}",
            f"{node.ops / total:.2f}",
            f"{100 * node.cpu_s / run.seconds:.0f}",
            f"{(node.net_in + node.net_out) / run.seconds / 1024:,.0f}",
        ]
        for i, node in enumerate(run.redis)
    ]
    return table(["node", "commands/s", "share", "CPU % of a core", "net in+out KiB/s"], rows)


def bench_table(benches: list[Bench], single: BotRun) -> str:
    """Redis's cost per request (redis-benchmark) and per message (the bot), in CPU."""
    rows = [
        [
            f"redis-benchmark {b.name}",
            f"{b.rps:,.0f} requests/s",
            f"{b.use.ops / b.requests:.2f}",
            f"{1e6 * b.use.cpu_s / b.requests:.1f} per request",
            f"{b.use.ops / b.use.cpu_s:,.0f}",
        ]
        for b in benches
    ]
    use = single.redis_total
    rows.append(
        [
            f"the bot ({single.label})",
            f"{single.rate:,.0f} msg/s",
            f"{single.per_msg(use.ops):.2f}",
            f"{1e6 * single.per_msg(use.cpu_s):.1f} per message",
            f"{use.ops / use.cpu_s:,.0f}",
        ]
    )
    header = ["on one Redis node", "rate", "commands per request", "Redis CPU µs"]
    return table([*header, "commands per Redis CPU second"], rows)


def model_table(single: BotRun, on_cluster: BotRun, benches: list[Bench], util: float) -> str:
    """Replicas and Redis for each target, every replica and node at ``util`` of its capacity.

    A target whose Redis CPU fits one node stays on ``single``'s figures; past it, the
    cluster run's (its client costs the replicas more CPU per message). Masters: from the
    bot's own Redis CPU per message, and (optimistic: every command, script-internal
    ones too, at a plain SET/GET round trip's cost at saturation) from redis-benchmark's.
    """
    plain = [b for b in benches if b.name in ("SET", "GET")]
    bench_cpu_per_op = sum(b.use.cpu_s for b in plain) / sum(b.use.ops for b in plain)
    rows = []
    for target in TARGETS:
        one_node = target * single.per_msg(single.redis_total.cpu_s) <= util
        run = single if one_node else on_cluster
        use = run.redis_total
        ops = run.per_msg(use.ops)
        masters = math.ceil(target * run.per_msg(use.cpu_s) / util)
        optimistic = math.ceil(target * ops * bench_cpu_per_op / util)
        rows.append(
            [
                f"{target:,}",
                "one node" if one_node else "cluster",
                f"{math.ceil(target / (run.rate * util)):,}",
                f"{math.ceil(target * run.per_msg(sum(run.cpu_s)) / util):,}",
                f"{target * ops:,.0f}",
                f"{target * run.per_msg(use.net_in + use.net_out) / 1e6:,.1f}",
                "1" if one_node else f"{max(3, masters)}",
                "1" if one_node else f"{max(3, optimistic)}",
            ]
        )
    header = ["msg/s", "Redis", "replicas (at the measured msg/s)", "replica cores (at CPU/msg)"]
    header += ["Redis commands/s", "Redis net MB/s", "masters (the bot's Redis CPU/msg)"]
    return table([*header, "masters (redis-benchmark's CPU/command)"], rows)


def check_table(base: BotRun, multi: BotRun) -> str:
    """What one replica's figures predict for ``multi`` (same Redis), against what it measured."""
    n = len(multi.cpu_s)
    measured = multi.rate

    def all_cpu(run: BotRun) -> float:
        return sum(run.cpu_s) + run.redis_total.cpu_s + float(run.wrk["driver_cpu_s"])

    def both(per_msg: Callable[[BotRun], float]) -> tuple[float, float]:
        return per_msg(base), per_msg(multi)

    # the CPU the run's processes got (replicas, Redis, wrk), at one replica's CPU per message
    by_cpu = all_cpu(multi) / multi.seconds / base.per_msg(all_cpu(base))
    largest = max(node.ops for node in multi.redis) / (multi.redis_total.ops or 1)
    checks: list[tuple[str, tuple[float, float], str]] = [
        (f"msg/s: {n} x one replica (a core each)", (n * base.rate, measured), ",.0f"),
        ("msg/s: at the CPU the run got", (by_cpu, measured), ",.0f"),
        ("Redis commands / msg", both(lambda r: r.per_msg(r.redis_total.ops)), ".2f"),
        (
            "Redis bytes / msg",
            both(lambda r: r.per_msg(r.redis_total.net_in + r.redis_total.net_out)),
            ",.0f",
        ),
        ("Redis CPU µs / msg", both(lambda r: 1e6 * r.per_msg(r.redis_total.cpu_s)), ",.0f"),
        ("replica CPU ms / msg", both(lambda r: 1000 * r.per_msg(sum(r.cpu_s))), ".2f"),
        ("largest node's share of commands", (1 / n, largest), ".2f"),
    ]
    rows = [
        [label, format(want, fmt), format(got, fmt), f"{got / want:.2f}"]
        for label, (want, got), fmt in checks
    ]
    header = [f"predicted from {base.label}", "predicted", "measured", "measured / predicted"]
    return table(header, rows)


# -- main --------------------------------------------------------------------------------
