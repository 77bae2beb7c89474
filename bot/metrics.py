"""Prometheus metrics, served at ``/metrics``. One registry for the process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

MESSAGES_IN = Counter(
    "bot_messages_in_total",
    "Inbound messages accepted by an adapter",
    ["platform"],
    registry=REGISTRY,
)
MESSAGES_OUT = Counter(
    "bot_messages_out_total", "Replies delivered to a platform", ["platform"], registry=REGISTRY
)
OUTCOMES = Counter(
    "bot_pipeline_outcomes_total",
    "Pipeline results by outcome",
    ["platform", "outcome"],
    registry=REGISTRY,
)
DEDUPE_HITS = Counter(
    "bot_dedupe_hits_total",
    "Retries and duplicates acknowledged without a reply",
    ["platform"],
    registry=REGISTRY,
)
SHED = Counter(
    "bot_shed_total",
    "Messages refused with 503 (no ack): a queue past the latency target, or MAX_IN_FLIGHT",
    ["platform"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "bot_rate_limited_total",
    "Messages dropped by the per-user rate limit",
    ["platform"],
    registry=REGISTRY,
)
LOCK_WAIT = Histogram(
    "bot_lock_wait_seconds",
    "Time waiting for the conversation lock",
    registry=REGISTRY,
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30),
)
PIPELINE_LATENCY = Histogram(
    "bot_pipeline_seconds",
    "Time through the whole pipeline",
    ["platform"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
NLU_LATENCY = Histogram(
    "bot_nlu_seconds",
    "NLU parse time",
    registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)
NLU_CONFIDENCE = Histogram(
    "bot_nlu_confidence",
    "Confidence of the top intent",
    registry=REGISTRY,
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
)
FALLBACKS = Counter(
    "bot_fallbacks_total", "Turns answered by the fallback policy", registry=REGISTRY
)
TICKETS = Gauge("bot_tickets", "Tickets by status", ["status"], registry=REGISTRY)
TIMER_BREACHES = Counter(
    "bot_timer_breaches_total", "Escalation timers that fired", ["timer"], registry=REGISTRY
)
OUTBOUND_WAIT = Histogram(
    "bot_outbound_wait_seconds",
    "Time a send waited for the platform's pace",
    ["platform"],
    registry=REGISTRY,
    buckets=(0.01, 0.1, 0.5, 1, 2, 5, 10, 30),
)
OUTBOUND_ERRORS = Counter(
    "bot_outbound_errors_total",
    "Failed platform API calls",
    ["platform", "kind"],
    registry=REGISTRY,
)


def render() -> bytes:
    """The Prometheus text exposition of every metric above."""
    return generate_latest(REGISTRY)
