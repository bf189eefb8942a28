"""The OAuth 2.0 authorization server for vendors (authlib), its clients, tokens and consents."""
