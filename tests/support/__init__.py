"""Test helpers that are not tests themselves: a throwaway PostgreSQL server (``postgres.py``)."""
