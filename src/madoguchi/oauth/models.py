"""OAuth 2.0 clients, authorization codes, tokens and consents."""
