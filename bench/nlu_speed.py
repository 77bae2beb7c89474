"""NLU serving speed: single-message parse latency and batched throughput, bundled model.

    .venv/bin/python bench/nlu_speed.py [--model DIR]

Trains the bundled model into a temporary directory first if no --model is given.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.settings import load_settings
from nlu.loader import bot_training_data, bot_validation_data, train_and_save
from nlu.model import IntentModel
from nlu.service import NLUService

TEXTS = [
    "你好",
    "我的订单20231122001到哪了",
    "快递怎么还没到",
    "我要退货 质量有问题",
    "能开发票吗",
    "转人工",
    "运费怎么算",
    "今天天气怎么样",
    "where is my order",
    "i want a refund",
]


async def measure(model: IntentModel) -> list[tuple[str, str]]:
    rows = []
    single = []
    for i in range(300):  # distinct texts so the cache does not answer
        started = time.perf_counter()
        model.predict_proba([f"{TEXTS[i % len(TEXTS)]} {i}"])
        single.append(time.perf_counter() - started)
    rows.append(("model, 1 message", f"p50 {1000 * statistics.median(single):.2f} ms"))
    batch = [f"{TEXTS[i % len(TEXTS)]} {i}" for i in range(2000)]
    started = time.perf_counter()
    for i in range(0, len(batch), 64):
        model.predict_proba(batch[i : i + 64])
    rows.append(
        ("model, batches of 64", f"{len(batch) / (time.perf_counter() - started):.0f} msg/s")
    )
    service = NLUService(model)
    await service.start()
    started = time.perf_counter()
    await asyncio.gather(*(service.parse(f"{TEXTS[i % len(TEXTS)]} x{i}") for i in range(2000)))
    rows.append(
        (
            "service, 2000 concurrent (micro-batched)",
            f"{2000 / (time.perf_counter() - started):.0f} msg/s",
        )
    )
    started = time.perf_counter()
    await asyncio.gather(*(service.parse(TEXTS[i % len(TEXTS)]) for i in range(2000)))
    rows.append(
        (
            "service, repeated texts (LRU cache)",
            f"{2000 / (time.perf_counter() - started):.0f} msg/s",
        )
    )
    await service.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path)
    args = parser.parse_args()
    directory = args.model
    if directory is None:
        tmp = Path(tempfile.mkdtemp())
        settings = load_settings(data_dir=tmp)
        directory = train_and_save(
            bot_training_data(settings),
            tmp / "model",
            settings=settings,
            validation=bot_validation_data(settings),
            progress=False,
        )
    model = IntentModel.load(directory)
    print(f"{'what':<44} result")
    for what, result in asyncio.run(measure(model)):
        print(f"{what:<44} {result}")
    print(
        f"weights {model.weights}, gate {model.gate}; entity extraction and normalisation "
        "are in the service rows only"
    )


if __name__ == "__main__":
    main()
