"""API plumbing state: idempotency keys."""
