"""Redis-backed state shared by all replicas: dedupe, rate limit, ordering, context."""
