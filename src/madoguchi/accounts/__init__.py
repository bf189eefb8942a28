"""Account pages: sign in and sign up, email verification, password reset, invitations, the second factor
(TOTP), the platform administrators' sign-in, and the OAuth authorization server's consent page with its
protocol endpoints (``/oauth/*``, ``/.well-known/oauth-authorization-server``)."""
