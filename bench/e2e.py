"""End to end: N ``bot serve`` replicas on one Redis under signed, mixed-platform load.

Starts a ``redis-server`` (or uses ``--redis-url``), the fake WeChat, Slack and
DingTalk platforms, and N replicas as separate processes. This process drives
the load (tests/system/load.py): AES-encrypted WeChat XML, signed Slack events
and DingTalk Stream frames, one third each, with 5% of messages delivered twice
(platform retries), 5% of arrivals a burst of three messages from one user, and
each platform's own retry behaviour on timeouts and 5xx. Every reply is
checked against what calibration says the text should get, per conversation.

Runs the bundled default model, then (``--bert``) the same bot with a
BERT-base-sized encoder (12 x 768, random weights: speed only) mixed in, so the
transformer runs on every message. The NLU cache is off, so every message is
parsed. Prints one table.

The driver here is Python on the same cores, and costs as much as a replica;
``bench/wechat_wrk.py`` measures one replica with ``wrk`` against the bare-echo
floor instead (WeChat only, no retries or bursts).

    .venv/bin/python bench/e2e.py [--replicas 2] [--rates 300,500] [--seconds 15]
                                  [--bert --bert-rates 25,50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.wechat_wrk import Machine
from bot.settings import load_settings
from nlu.loader import resolve_model_dir
from tests.system.cluster import RedisServer
from tests.system.ledger import Ledger, check, settle
from tests.system.load import Driver, calibrate, open_loop, texts_for
from tests.system.stack import Stack


def bert_base_variant(source: Path, target: Path) -> Path:
    """``source`` with a randomly initialised BERT-base-sized encoder at weight 0.01.

    The weight is tiny so intents (and so the replies checked) stay those of the
    n-gram model, while the 12-layer transformer still runs on every message.
    """
    from transformers import BertConfig, BertForSequenceClassification

    from nlu.encoder import build_tokenizer
    from nlu.loader import bot_training_data

    shutil.copytree(source.resolve(), target)
    labels = json.loads((target / "labels.json").read_text(encoding="utf-8"))
    texts = [example.text for example in bot_training_data(load_settings()).examples]
    tokenizer = build_tokenizer(texts, vocab_size=6000)
    config = BertConfig(  # type: ignore[call-arg]
        vocab_size=len(tokenizer),
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        num_labels=len(labels),
        pad_token_id=tokenizer.pad_token_id,
    )
    shutil.rmtree(target / "encoder", ignore_errors=True)
    BertForSequenceClassification(config).save_pretrained(target / "encoder")
    tokenizer.save_pretrained(target / "encoder")
    meta = json.loads((target / "metadata.json").read_text(encoding="utf-8"))
    meta.update(has_encoder=True, weights={"ngram": 0.99, "encoder": 0.01}, gate=1.0)
    (target / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    return target


async def run_model(
    label: str, model: Path, rates: list[float], args: argparse.Namespace, redis_url: str
) -> list[dict[str, object]]:
    """Start the replicas on ``model``, calibrate, then one load run per rate."""
    rows: list[dict[str, object]] = []
    async with Stack(redis_url, model, replicas=args.replicas) as stack:
        platforms = stack.platforms
        assert platforms is not None
        async with Driver(platforms, stack.urls) as driver:
            expected = await calibrate(driver)
            texts = texts_for(expected)
            for rate in rates:
                platforms.ledger = Ledger()
                driver.retries = driver.gave_up = driver.duplicates_sent = 0
                refused_before, machine = await refused(stack.urls()), Machine()
                machine.start()
                cpu_before, wall_before = time.process_time(), time.monotonic()
                started = await open_loop(
                    driver,
                    texts,
                    rate=rate,
                    messages=int(rate * args.seconds),
                    users=args.users,
                    prefix=uuid.uuid4().hex[:6],
                )
                await settle(platforms.ledger, expected, timeout_s=30)
                report = check(platforms.ledger, expected)
                elapsed = platforms.ledger.last_reply_at() - started
                machine.stop()
                driver_cores = (time.process_time() - cpu_before) / (time.monotonic() - wall_before)
                rows.append(
                    {
                        "model": label,
                        "offered": rate,
                        "report": report,
                        "msg_s": report.messages / elapsed,
                        "refused": await refused(stack.urls()) - refused_before,
                        "gave_up": driver.gave_up,
                        "driver_cores": driver_cores,
                        "steal_pct": machine.steal_pct,
                        "load": machine.load1,
                        "peak_mb": max(node.memory_mb()[1] for node in stack.nodes),
                        "duplicates_sent": driver.duplicates_sent,
                        "retries": driver.retries,
                    }
                )
                print(_row(rows[-1], args.replicas), flush=True)
    return rows


async def refused(urls: list[str]) -> int:
    """Messages the replicas refused so far (503 / no ack), from their ``bot_shed_total``."""
    total = 0.0
    async with httpx.AsyncClient(timeout=10) as client:
        for url in urls:
            text = (await client.get(f"{url}/metrics")).text
            total += sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("bot_shed_total{")
            )
    return int(total)


HEADER = (
    f"{'model':<10} {'repl':>4} {'offered':>7} {'msg/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
    f"{'p99 ms':>7} {'messages':>8} {'dup in':>6} {'dup out':>7} {'lost':>5} {'refused':>7} "
    f"{'gave up':>7} {'in order':>11} {'MiB/repl':>8} {'driver':>6} {'steal%':>6} {'load':>5}"
)


def _row(row: dict[str, object], replicas: int) -> str:
    r = row["report"]
    assert hasattr(r, "messages")
    return (
        f"{row['model']:<10} {replicas:>4} {row['offered']:>7.0f} {row['msg_s']:>7.0f} "
        f"{r.p50_ms:>7.1f} {r.percentile(0.95):>7.1f} {r.percentile(0.99):>7.1f} "
        f"{r.messages:>8} {row['duplicates_sent']:>6} {r.duplicates:>7} {r.missing:>5} "
        f"{row['refused']:>7} {row['gave_up']:>7} {r.in_order:>5}/{r.conversations:<5} "
        f"{row['peak_mb']:>8.0f} {row['driver_cores']:>6.2f} {row['steal_pct']:>6.1f} "
        f"{row['load']:>5.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--rates", default="300,500", help="offered msg/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=15, help="load duration per rate")
    parser.add_argument("--users", type=int, default=400, help="users per platform")
    parser.add_argument("--bert", action="store_true", help="also run a BERT-base-sized model")
    parser.add_argument("--bert-rates", default="25,50")
    parser.add_argument("--redis-url", help="use this Redis instead of starting one")
    parser.add_argument("--problems", help="write the conversations that went wrong here")
    args = parser.parse_args()
    default_model = resolve_model_dir(load_settings())
    work = Path(tempfile.mkdtemp(prefix="e2e-main-"))
    redis = None if args.redis_url else RedisServer(work / "redis").start()
    redis_url = args.redis_url or (redis.url if redis else "")
    print(HEADER, flush=True)
    try:
        rates = [float(x) for x in args.rates.split(",")]
        rows = asyncio.run(run_model("default", default_model, rates, args, redis_url))
        if args.bert:
            bert = bert_base_variant(default_model, work / "bert-base")
            bert_rates = [float(x) for x in args.bert_rates.split(",")]
            rows += asyncio.run(run_model("bert-base", bert, bert_rates, args, redis_url))
    finally:
        if redis is not None:
            redis.stop()
        shutil.rmtree(work, ignore_errors=True)
    if args.problems:
        problems = [p for row in rows for p in row["report"].problems]  # type: ignore[attr-defined]
        Path(args.problems).write_text("\n".join(problems), encoding="utf-8")
    print(
        f"\n{args.replicas} replicas and the load driver (this process, with the fakes) share "
        f"the machine's cores; latency = webhook sent -> first reply seen at the fake; "
        f"'dup in' = deliveries repeated on purpose, 'dup out' = replies seen more than once; "
        f"'refused' = deliveries the replicas answered 503 / did not ack (admission, "
        f"bot_shed_total), which the platform delivers again; 'gave up' = messages whose "
        f"platform retries ran out; MiB/repl = the largest replica's peak RSS; driver = this "
        f"process's CPU in cores. {time.strftime('%Y-%m-%d %H:%M')}"
    )


if __name__ == "__main__":
    main()
