"""The platform admin pages under /admin/: the municipalities (tenants), creating, suspending and resuming them."""
