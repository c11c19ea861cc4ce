"""Credentials: password hashing (argon2id, legacy imports), password rules, TOTP."""
