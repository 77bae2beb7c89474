"""A first ``bot serve`` fine-tunes the better model in a niced child once the quick one answers."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from bot.errors import BotError
from bot.settings import load_settings
from nlu.loader import current_link, fine_tune_current
from nlu.model import read_metadata
from nlu.service import NLUService
from tests.helpers import until

NLU = """version: 1
lang: zh-CN
intents:
  return_refund: [我要退货, 这个能退吗, 退款退货, 申请退款, 想退掉, 退货怎么弄, 我要退钱, 退了吧]
  track_shipment: [快递到哪了, 包裹还没到, 物流不动了, 查下物流, 快递呢, 还没收到货, 到哪了啊]
"""


def tiny_bot(tmp_path: Path) -> Path:
    config = tmp_path / "config"
    (config / "nlu").mkdir(parents=True)
    (config / "nlu" / "tiny.yml").write_text(NLU, encoding="utf-8")
    return config


def children_of(data_dir: Path) -> list[int]:
    """Processes whose command line names ``data_dir``: the fine-tuning child."""
    found = []
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if proc.name.isdigit() and str(data_dir) in (proc / "cmdline").read_text():
                found.append(int(proc.name))
    return found


def niceness(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[16])  # field 19 of stat(5), counted after the command's ")"
    return None


async def test_fine_tuning_runs_in_a_niced_child_and_makes_its_model_current(
    tmp_path: Path,
) -> None:
    settings = load_settings(config_dir=tiny_bot(tmp_path), data_dir=tmp_path / "data")
    task = asyncio.create_task(fine_tune_current(settings))
    niced: list[int] = []

    def niced_child_or_done() -> bool:  # the child lowers its priority as it starts
        niced.extend(p for p in children_of(settings.data_dir) if (niceness(p) or 0) >= 10)
        return bool(niced) or task.done()

    await until(niced_child_or_done, seconds=300)
    directory = await task
    assert niced
    assert read_metadata(directory)["tuned"] is not None
    assert current_link(settings).resolve() == directory
    assert not children_of(settings.data_dir)


async def test_a_stopped_replica_stops_its_fine_tuning_child(tmp_path: Path) -> None:
    settings = load_settings(config_dir=tiny_bot(tmp_path), data_dir=tmp_path / "data")
    task = asyncio.create_task(fine_tune_current(settings))
    await until(lambda: bool(children_of(settings.data_dir)), seconds=300)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not children_of(settings.data_dir)


async def test_a_failed_fine_tuning_leaves_the_quick_model_answering(
    bundled_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def improve() -> Path:
        raise BotError("fine-tuning exited with 1")

    service = NLUService(None, warm_up=lambda: bundled_model_dir, improve=improve)
    await service.start()
    try:
        await until(lambda: "the quick model stays" in caplog.text)
        assert service.model_dir == bundled_model_dir
        assert (await service.parse("我要退货")).intent.name == "return_refund"
    finally:
        await service.stop()


async def test_the_fine_tuned_model_is_swapped_in_when_ready(
    bundled_model_dir: Path, tiny_model_dir: Path
) -> None:
    ready = asyncio.Event()

    async def improve() -> Path:  # stands for the child: done when the test says so
        await ready.wait()
        return tiny_model_dir

    service = NLUService(None, warm_up=lambda: bundled_model_dir, improve=improve)
    await service.start()
    try:
        await service.wait_ready()
        assert service.model_dir == bundled_model_dir
        ready.set()
        await until(lambda: service.model_dir == tiny_model_dir)
        assert (await service.parse("快递到哪了")).intent.name == "track_shipment"
    finally:
        await service.stop()
