"""Shared fixtures: a real Redis (embedded, or ``REDIS_URL``) and a started runtime."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.redis_conn import RedisHandle, start_embedded
from bot.runtime import Runtime
from bot.settings import Settings, load_settings

TEARDOWN_GUARD_S = 60  # generous: a failure guard, never a timing assertion


@pytest.fixture(scope="session")
def redis_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Connection arguments for the Redis the suite runs against."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield {"url": url}
        return
    server, socket_file = start_embedded(tmp_path_factory.mktemp("redis"))
    yield {"unix_socket_path": socket_file}
    server.shutdown()


def make_client(target: dict[str, Any]) -> aioredis.Redis:
    """A fresh asyncio client (its own connections) to the test Redis."""
    if "url" in target:
        return aioredis.from_url(target["url"], max_connections=256)
    return aioredis.Redis(unix_socket_path=target["unix_socket_path"], max_connections=256)


@pytest.fixture
async def redis_client(redis_target: dict[str, Any]) -> AsyncIterator[aioredis.Redis]:
    """A client on an empty database."""
    client = make_client(redis_target)
    await client.flushdb()
    yield client
    # a hang here must fail the test (an error), not stall the suite until CI gives up
    await asyncio.wait_for(client.aclose(), TEARDOWN_GUARD_S)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with data under a temporary directory and no platform credentials."""
    return load_settings(data_dir=tmp_path / "data", log_json=False)


@pytest.fixture
async def make_runtime(
    redis_client: aioredis.Redis, redis_target: dict[str, Any], settings: Settings
) -> AsyncIterator[Any]:
    """Factory of started runtimes (replicas), each with its own Redis connections."""
    started: list[Runtime] = []

    async def make(**overrides: Any) -> Runtime:
        s = settings.model_copy(update=overrides) if overrides else settings
        runtime = Runtime(s, RedisHandle(make_client(redis_target), "test"))
        await runtime.start()
        started.append(runtime)
        return runtime

    yield make
    for runtime in started:
        await asyncio.wait_for(runtime.stop(), TEARDOWN_GUARD_S)


@pytest.fixture(scope="session")
def bundled_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled bot's model, trained once per test session (about a minute on 2 cores)."""
    from nlu.loader import bot_training_data, bot_validation_data, train_and_save

    data_dir = tmp_path_factory.mktemp("model-data")
    settings = load_settings(data_dir=data_dir)
    return train_and_save(
        bot_training_data(settings),
        data_dir / "model",
        settings=settings,
        validation=bot_validation_data(settings),
        progress=False,
    )


@pytest.fixture
def bot_settings(settings: Settings, bundled_model_dir: Path) -> Settings:
    """Settings for the bundled bot with its trained model."""
    return settings.model_copy(update={"model_dir": bundled_model_dir})


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model of two intents in n-grams only (seconds to train), for process and CLI tests.

    It knows too little for the bundled flows: what it is for is a ``bot serve``
    that starts without training, or a model that lacks the dialog's intents.
    """
    from nlu.data import load_files
    from nlu.loader import train_and_save

    work = tmp_path_factory.mktemp("tiny-model")
    data = work / "data.csv"
    rows = [f"我要退货{i},return_refund" for i in range(12)]
    rows += [f"快递到哪了{i},track_shipment" for i in range(12)]
    data.write_text("text,intent\n" + "\n".join(rows) + "\n", encoding="utf-8")
    settings = load_settings(data_dir=work / "data")
    return train_and_save(
        load_files([data]), work / "model", settings=settings, pretrained=False, progress=False
    )
