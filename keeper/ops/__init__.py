"""Operations plumbing for the keeper: structured logs and alerts, Prometheus metrics with /health, the
circuit breaker, and the signer-balance watch."""
