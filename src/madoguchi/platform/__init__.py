"""The platform's own work on municipalities: provisioning (create, sync from ``tenants/``, suspend, resume), the
rest of their lifecycle (go live, invite, delete, purge) and moving one between installations (export/import).

It sits above every domain area (it creates, purges and archives their rows) and below the surfaces and the CLI.
"""
