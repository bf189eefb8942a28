"""The transactional outbox and the worker that drains it (notifications, webhooks)."""
