# The two commands of the README: `make install` and `make test`.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
REDIS7_URL ?= redis://127.0.0.1:6379/15

.PHONY: install test lint typecheck unit redis7

install:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@# The web chat's browser test drives Debian's chromium (never a downloaded browser).
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || \
		echo "install: chromium not installed; the browser test will be skipped"

lint:
	$(BIN)/ruff check bot adapters nlu dialog service config tests bench
	$(BIN)/ruff format --check bot adapters nlu dialog service config tests bench
	$(BIN)/hadolint Dockerfile

typecheck:
	$(BIN)/mypy

unit:
	$(BIN)/pytest

# The Redis-facing tests once more against the machine's Redis 7, when it runs.
redis7:
	@if $(BIN)/python -c "import redis,sys; redis.Redis.from_url('$(REDIS7_URL)', socket_connect_timeout=1).ping()" 2>/dev/null; then \
		REDIS_URL=$(REDIS7_URL) $(BIN)/pytest tests/core; \
	else echo "redis7: no Redis at $(REDIS7_URL); skipped"; fi

test: lint typecheck unit redis7
