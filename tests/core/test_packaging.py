"""The deployment files say what the README promises (Docker cannot run here)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_two_replicas_on_one_redis() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    bots = [name for name in services if name.startswith("bot-")]
    assert len(bots) == 2
    for name in bots:
        env = services[name]["environment"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert {services[b]["ports"][0] for b in bots} == {"8001:8000", "8002:8000"}


def test_dockerfile_is_multi_stage_slim_non_root_with_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert len(stages) == 2 and all("slim" in s for s in stages)
    assert "USER 10001" in text and "HEALTHCHECK" in text
    assert "torch==2.13.0" in text and "bot train" in text
