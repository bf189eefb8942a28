"""Applications filed under a tenant's procedures: the workflow engine, operations and history."""
