"""Tenants (municipalities): the model and its resolution from the URL. Foundation: imports no domain area."""
