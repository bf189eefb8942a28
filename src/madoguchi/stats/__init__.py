"""Key figures (KPIs) of a municipality's procedures: volumes, processing times, the share filed online."""
