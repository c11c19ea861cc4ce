"""Accounts: the platform's central sign-in and OpenID Connect issuer (docs/accounts.md)."""
