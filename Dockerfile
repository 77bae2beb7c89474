# syntax=docker/dockerfile:1
# Multi-stage build: a builder with compilers makes the venv and trains the
# bundled model; the runtime image is slim, runs as a non-root user and has a
# HEALTHCHECK. CPU-only torch comes from the PyTorch CPU index so the image
# never pulls CUDA.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential=12.* \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY nlu ./nlu
COPY dialog ./dialog
COPY service ./service
COPY config ./config
RUN pip install .
# Train the bundled model at build time so a container starts ready.
ENV BOT_DATA_DIR=/opt/botdata HF_HUB_OFFLINE=1
RUN bot train

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    BOT_DATA_DIR=/var/lib/csbot \
    HF_HUB_OFFLINE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000
RUN groupadd --system --gid 10001 bot \
    && useradd --system --uid 10001 --gid bot --home-dir /var/lib/csbot --create-home bot
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder --chown=10001:10001 /opt/botdata /var/lib/csbot
USER 10001
WORKDIR /var/lib/csbot
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]
CMD ["bot", "serve"]
