"""A setup error ends any `bot` command with one line and a non-zero exit, never a traceback.

Each case runs the installed ``bot`` script as a process, as a user would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.paths import bundled_config_dir
from tests.system.cluster import BOT, ROOT, free_port


def _bot(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "MODEL_DIR")}
    return subprocess.run(
        [str(BOT), *args],
        env={**full_env, **env},
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,  # a failure guard only: each case ends in seconds
    )


def _assert_one_line_error(done: subprocess.CompletedProcess[str], *, says: str) -> None:
    output = (done.stdout + done.stderr).strip()
    assert done.returncode != 0, output
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, output
    assert says in errors[0], output


@pytest.fixture
def broken_flows(tmp_path: Path) -> Path:
    config = tmp_path / "mybot"
    shutil.copytree(bundled_config_dir(), config, ignore=shutil.ignore_patterns("__pycache__"))
    (config / "flows.yml").write_text("flows: [unclosed", encoding="utf-8")
    return config


@pytest.mark.parametrize("command", [["chat"], ["serve"], ["test", "tests/conversations"]])
def test_a_broken_flows_file(
    tmp_path: Path, broken_flows: Path, tiny_model_dir: Path, command: list[str]
) -> None:
    env = {"BOT_DATA_DIR": str(tmp_path / "d"), "MODEL_DIR": str(tiny_model_dir)}
    done = _bot("--config", str(broken_flows), *command, env=env)
    _assert_one_line_error(done, says="flows.yml: not valid YAML")


@pytest.mark.parametrize("command", ["chat", "serve"])
def test_a_missing_model_dir(tmp_path: Path, command: str) -> None:
    env = {"BOT_DATA_DIR": str(tmp_path / "d"), "MODEL_DIR": str(tmp_path / "no-model")}
    done = _bot(command, env=env)
    _assert_one_line_error(done, says="no-model: not a model directory")


@pytest.mark.parametrize("command", [["serve"], ["tickets"]])
def test_an_unreachable_redis(tmp_path: Path, tiny_model_dir: Path, command: list[str]) -> None:
    env = {
        "BOT_DATA_DIR": str(tmp_path / "d"),
        "MODEL_DIR": str(tiny_model_dir),
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    done = _bot(*command, env=env)
    _assert_one_line_error(done, says="Redis is unreachable")


@pytest.mark.parametrize(
    ("rows", "line"),
    [("我要退货,return_refund\n只有一列\n", 3), ("快递到哪了,track_shipment,extra\n", 2)],
)
def test_a_malformed_eval_csv_row(
    tmp_path: Path, tiny_model_dir: Path, rows: str, line: int
) -> None:
    data = tmp_path / "eval.csv"
    data.write_text("text,intent\n" + rows, encoding="utf-8")
    done = _bot(
        "eval",
        *("--data", str(data), "--format", "csv", "--model", str(tiny_model_dir)),
        *("--png", str(tmp_path / "c.png")),
        env={"BOT_DATA_DIR": str(tmp_path / "d")},
    )
    _assert_one_line_error(done, says=f"eval.csv:{line}: ")


def test_global_options_work_after_the_command(tmp_path: Path) -> None:
    config = tmp_path / "mybot"
    shutil.copytree(bundled_config_dir(), config, ignore=shutil.ignore_patterns("__pycache__"))
    (config / "nlu" / "extra.csv").write_text("text,intent\n只有一列\n", encoding="utf-8")
    data_dir = tmp_path / "given-after"
    done = _bot("train", "--config", str(config), "--data-dir", str(data_dir), env={})
    # the broken file is only in the --config given after the command
    _assert_one_line_error(done, says=f"{config}/nlu/extra.csv:2: ")
    assert data_dir.is_dir()  # and the --data-dir given after it was used too


def test_an_invalid_setting_is_one_line(tmp_path: Path) -> None:
    done = _bot("tickets", env={"BOT_DATA_DIR": str(tmp_path / "d"), "PORT": "eighty"})
    _assert_one_line_error(done, says="invalid setting port")
