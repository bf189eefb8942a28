"""The tenant admin pages: staff, procedure settings, vendor apps, registry imports, key figures."""
