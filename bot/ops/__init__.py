"""Operations: what an operator sees (log lines, Prometheus metrics, /healthz)."""
