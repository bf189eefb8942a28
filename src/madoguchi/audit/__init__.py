"""The per-tenant hash-chained audit trail."""
