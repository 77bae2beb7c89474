"""Cheap-driver throughput: ``wrk`` sends signed WeChat text messages, to an echo floor and the bot.

The driver is ``wrk`` (C, from the distribution: ``apt-get install wrk``; nothing
is installed at run time) with ``bench/wrk/wechat.lua``: plaintext-mode signed
WeChat text messages, every one with a new MsgId, from ``--users`` senders.
wrk's LuaJIT has no sha1, so this script signs a pool of query strings just
before each run (the bot refuses timestamps older than 5 minutes) and the Lua
script builds each body around a MsgId of its own.

Each run measures, under the same wrk settings:

- **echo**: the bare-echo floor (``bench/wrk/echo_app.py``: one uvicorn process,
  signature check and a passive reply, no state);
- **bot**: one ``bot serve`` replica (``--workers``, default the cores) with the
  bundled model, on its embedded Redis or ``--redis-url``, the fake WeChat API
  behind it for replies that miss the passive window.

It prints msg/s, p50, p99, non-2xx and wrk errors, the CPU seconds wrk itself
used, the bot's msg/s as a ratio of the echo's, and the machine's load and CPU
steal over each run. Afterwards it checks the bot's durable records: one
``in`` record per message (no MsgId twice), at least every answered request
and at most the ones wrk had in flight when it stopped more, and one ``out``
record per replied turn.

    .venv/bin/python bench/wechat_wrk.py [--seconds 10] [--connections 16] [--threads 1]
                                         [--workers N] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.settings import load_settings
from nlu.loader import resolve_model_dir
from tests.fakes import wechat as fwechat
from tests.system.cluster import Replica, free_port
from tests.system.stack import GENEROUS

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk" / "wechat.lua"
ECHO = HERE / "wrk" / "echo_app.py"
POOL_SIZE = 4096  # signed query strings, reused round-robin (the bodies never are)
# FAQ questions the bundled bot answers with one reply each, whatever came before
TEXTS = ("运费怎么算", "一般几天能到", "支持什么付款方式", "保修多久")


def wrk_binary() -> str:
    """``wrk`` on PATH, or exit with one line saying how to get it."""
    found = shutil.which("wrk")
    if found is None:
        sys.exit("bench/wechat_wrk.py: wrk is not on PATH; install it with `apt-get install wrk`")
    return found


def write_pool(directory: Path, token: str, text: str) -> tuple[Path, Path]:
    """A fresh pool of signed query strings and the body template (sender %s, MsgId %s)."""
    now = str(int(time.time()))
    lines = []
    for _ in range(POOL_SIZE):
        nonce = uuid.uuid4().hex[:10]
        lines.append(
            f"timestamp={now}&nonce={nonce}&signature={fwechat.signature(token, now, nonce)}"
        )
    pool = directory / "pool.txt"
    pool.write_text("\n".join(lines) + "\n", encoding="utf-8")
    template = directory / "body.xml"
    # %s placeholders for Lua's string.format; the text itself has no % in it
    template.write_text(
        fwechat.text_xml("%s", text, msg_id="%s", create_time=int(now)), encoding="utf-8"
    )
    return pool, template


@dataclass
class Machine:
    """Load average and CPU steal between :meth:`start` and :meth:`stop`, from /proc."""

    before: list[int] = field(default_factory=list)
    steal_pct: float = 0.0
    busy_pct: float = 0.0
    load1: float = 0.0

    @staticmethod
    def _cpu() -> list[int]:
        # user nice system idle iowait irq softirq steal ...
        return [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]

    def start(self) -> None:
        """Take the first sample."""
        self.before = self._cpu()

    def stop(self) -> None:
        """Take the second sample; the load average is the 1-minute one at this moment."""
        delta = [b - a for a, b in zip(self.before, self._cpu(), strict=False)]
        total = sum(delta[:8]) or 1
        self.steal_pct = 100 * delta[7] / total
        self.busy_pct = 100 * (total - delta[3] - delta[4]) / total
        self.load1 = os.getloadavg()[0]


def tree_cpu_s(root: int) -> float:
    """User + system CPU seconds of ``root`` and its live descendants (workers, Redis)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        grew = bool(more)
        tree |= more
    return sum(times.get(pid, 0.0) for pid in tree)


def wrk_process(command: list[str], env: dict[str, str] | None = None) -> tuple[int, str, float]:
    """Run wrk to the end: exit status, output, and its own CPU seconds (user + system)."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    # wait4 rather than wait: the rusage is wrk's alone, not every child's (RUSAGE_CHILDREN)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    return proc.returncode, output, usage.ru_utime + usage.ru_stime


async def run_wrk(
    url: str,
    args: argparse.Namespace,
    connections: int,
    work: Path,
    seconds: int = 0,
    hosts: list[str] | None = None,
) -> dict[str, Any]:
    """One wrk run against ``url``; its RESULT line, driver CPU, server CPU and the machine.

    ``hosts`` (``host:port``) spreads wrk's threads over several servers, thread i to
    host i mod N (``WRK_HOSTS`` in ``bench/wrk/wechat.lua``); ``url`` then only names the path.
    """
    pool, template = write_pool(work, fwechat.TOKEN, TEXTS[args.run % len(TEXTS)])
    args.run += 1
    base = (int(time.time()) % 1_000_000) * 1_000_000_000  # MsgIds new for every run
    command = [args.wrk, f"-t{args.threads}", f"-c{connections}", f"-d{seconds or args.seconds}s"]
    command += ["--timeout", "10s", "-s", str(LUA), f"{url}/webhooks/wechat", "--"]
    command += [str(pool), str(template), str(args.users), str(base), str(args.threads)]
    machine = Machine()
    machine.start()
    server_before = tree_cpu_s(args.server_pid)
    env = dict(os.environ)
    if hosts:
        env["WRK_HOSTS"] = ",".join(hosts)
    if args.rate:  # each connection waits so that together they aim at args.rate msg/s
        env["WRK_DELAY_MS"] = str(round(connections * 1000 / args.rate))
    code, output, driver_cpu_s = await asyncio.to_thread(wrk_process, command, env)
    machine.stop()
    result_lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    if code != 0 or not result_lines:
        raise RuntimeError(f"wrk failed ({code}):\n{output}")
    result: dict[str, Any] = json.loads(result_lines[-1].removeprefix("RESULT "))
    result.update(
        connections=connections,
        driver_cpu_s=driver_cpu_s,
        server_cpu_s=tree_cpu_s(args.server_pid) - server_before,
        machine=machine,
    )
    return result


def start_echo(work: Path) -> subprocess.Popen[bytes]:
    """The echo app on a free port; ``args.echo_url`` is where it listens."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ECHO), "--port", str(port), "--token", fwechat.TOKEN],
        stdout=(work / "echo.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    proc.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    return proc


async def wait_echo(url: str) -> None:
    """Until the echo app answers a signed message."""
    import httpx

    now = str(int(time.time()))
    query = {
        "timestamp": now,
        "nonce": "n",
        "signature": fwechat.signature(fwechat.TOKEN, now, "n"),
    }
    body = fwechat.text_xml("probe", "hi")
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                r = await client.post(f"{url}/webhooks/wechat", params=query, content=body)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError("echo app not answering")


def bot_replica(args: argparse.Namespace, api_url: str, data: Path) -> Replica:
    """One ``bot serve`` replica on the bundled model, WeChat pointed at the fake API."""
    env = {
        "WECHAT_TOKEN": fwechat.TOKEN,
        "WECHAT_APP_ID": fwechat.APP_ID,
        "WECHAT_APP_SECRET": fwechat.SECRET,
        "WECHAT_API_BASE_URL": api_url,
        "MODEL_DIR": str(resolve_model_dir(load_settings())),
        "BOT_DATA_DIR": str(data),
        "LOG_LEVEL": "WARNING",
        "NLU_CACHE_SIZE": "0",  # every message is parsed, as with real, varied traffic
        "RATE_LIMITS": json.dumps({"wechat": GENEROUS}),
        "REDIS_URL": args.redis_url or "",  # empty: the replica's embedded Redis
    }
    return Replica("bot", env, args=["--workers", str(args.workers)])


def records_check(data: Path, answered: int, connections: int) -> str:
    """What the bot's SQLite records say about duplicates and losses, as one line."""
    db = data / "records.db"
    if not db.exists():
        return "records: not checked (no records.db)"
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT message_id), SUM(event = 'replied') "
            "FROM bot_records WHERE kind = 'in' AND user_id LIKE 'wrk%'"
        ).fetchone()
        (outs,) = conn.execute(
            "SELECT COUNT(*) FROM bot_records WHERE kind = 'out' AND user_id LIKE 'wrk%'"
        ).fetchone()
    ins, distinct, replied = rows[0], rows[1], rows[2] or 0
    # wrk drops the requests in flight when the time is up; the bot may still have run them
    ok = ins == distinct and answered <= ins <= answered + connections and outs == replied == ins
    return (
        f"records: {'OK' if ok else 'MISMATCH'}: in={ins} distinct MsgIds={distinct} "
        f"replied={replied} out={outs}; wrk answered={answered} (+ up to {connections} in flight)"
    )


HEADER = (
    f"{'system':<22} {'conns':>5} {'msg/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7} "
    f"{'wrk err':>7} {'passive':>7} {'later':>6} {'wrk CPU s':>9} {'srv CPU s':>9} "
    f"{'vs echo':>7} {'load1':>5} {'steal%':>6} {'busy%':>5}"
)


def row(label: str, r: dict[str, Any], echo_rate: float | None) -> str:
    """One table line from a :func:`run_wrk` result."""
    rate = r["requests"] / (r["duration_us"] / 1e6)
    errors = r["connect"] + r["read"] + r["write"] + r["timeout"]
    ratio = f"{rate / echo_rate:>7.3f}" if echo_rate else f"{'1':>7}"
    m: Machine = r["machine"]
    return (
        f"{label:<22} {r['connections']:>5} {rate:>7.0f} {r['p50_us'] / 1000:>7.1f} "
        f"{r['p99_us'] / 1000:>7.1f} {r['status']:>7} {errors:>7} {r['passive']:>7} "
        f"{r['later']:>6} {r['driver_cpu_s']:>9.2f} {r['server_cpu_s']:>9.2f} {ratio} "
        f"{m.load1:>5.2f} {m.steal_pct:>6.1f} {m.busy_pct:>5.0f}"
    )


async def measure(args: argparse.Namespace, work: Path) -> None:
    """Echo floor, then the bot, at each connection count; print rows as they come.

    Each system gets an unreported warm-up run first; the bot's still counts in the
    records check (its messages are recorded like the others).
    """
    conns = [int(c) for c in args.connections.split(",")]
    echo = start_echo(work)
    echo_rates: dict[int, float] = {}
    try:
        await wait_echo(echo.url)  # type: ignore[attr-defined]
        args.server_pid = echo.pid
        await run_wrk(echo.url, args, conns[0], work, seconds=args.warmup)  # type: ignore[attr-defined]
        for c in conns:
            r = await run_wrk(echo.url, args, c, work)  # type: ignore[attr-defined]
            echo_rates[c] = r["requests"] / (r["duration_us"] / 1e6)
            print(row("echo (1 process)", r, None), flush=True)
    finally:
        echo.terminate()
        echo.wait(10)
    api = await fwechat.FakeWeChat().start()
    api_sent = 0

    def count(_: dict[str, Any]) -> None:
        nonlocal api_sent
        api_sent += 1

    api.listener = count
    data = work / "data"
    replica = bot_replica(args, api.base_url, data)
    results = []
    try:
        replica.start(work)
        await asyncio.to_thread(replica.wait_ready, 300)
        args.server_pid = replica.process.pid if replica.process else 0
        # a first short run, not reported: lazy imports, caches and connection pools fill
        results.append(await run_wrk(replica.url, args, conns[0], work, seconds=args.warmup))
        for c in conns:
            r = await run_wrk(replica.url, args, c, work)
            results.append(r)
            label = f"bot serve ({args.workers} worker{'s' if args.workers > 1 else ''})"
            print(row(label, r, echo_rates[c]), flush=True)
    finally:
        await asyncio.to_thread(replica.stop)  # drains, then flushes the records
        await api.stop()
    answered = sum(r["requests"] for r in results)
    print(f"\nreplies sent later through the fake WeChat API: {api_sent}")
    print(records_check(data, answered, sum(r["connections"] for r in results)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per run")
    parser.add_argument("--connections", default="16", help="wrk -c, comma-separated")
    parser.add_argument("--warmup", type=int, default=2, help="unreported first run, seconds")
    parser.add_argument("--threads", type=int, default=1, help="wrk -t")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--users", type=int, default=20_000, help="distinct senders")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="aim at this many msg/s (each connection paced; 0: as fast as answered)",
    )
    args = parser.parse_args()
    args.wrk = wrk_binary()
    args.run = 0
    work = Path(tempfile.mkdtemp(prefix="wechat-wrk-"))
    print(HEADER, flush=True)
    try:
        asyncio.run(measure(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        (
            f"\npaced at {args.rate:g} msg/s: each connection waits connections/rate seconds "
            "between an answer and its next request (a closed loop: a slow answer delays the "
            "next, so msg/s is what was reached); "
            if args.rate
            else "\n"
        )
        + f"wrk -t{args.threads} -d{args.seconds}s, driver, servers and Redis on the same "
        f"{os.cpu_count()} cores; latency is wrk's (request sent -> response read); "
        f"'passive' = replies in the HTTP response, 'later' = 'success' (reply by API); "
        f"load1 = 1-minute load average at the end of each run, steal%/busy% over it. "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )


if __name__ == "__main__":
    main()
