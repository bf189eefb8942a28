"""Tenants (municipalities): the model, resolution from the URL, and the per-request binding."""
