"""The accounts JSON API under /accounts/api/ (docs/accounts.md, docs/accounts-openapi.json)."""
