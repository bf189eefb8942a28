"""The standard catalog of procedures (``services/``), the tenants' overlays on it (``tenants/``) and their conformance.

``madoguchi.catalog.definitions`` reads and checks the files (pure Python, no database); the rest of the
package stores published versions and serves them.
"""
