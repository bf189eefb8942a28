"""Open data by design (issue 20): monthly KPI datasets per municipality and for the country, snapshotted so
they survive purges, published as CSV + JSON with a Frictionless data package, and drawn as accessible charts.

``models`` holds the snapshots, ``columns`` the published columns (names, types, units: the one definition the
files, the data package, the JSON API and the charts share). See docs/decisions/0049-open-data-and-data-use-ledger.md.
"""
