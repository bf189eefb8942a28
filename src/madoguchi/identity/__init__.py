"""Accounts of residents and staff, their roles and identity assurance."""
