"""Tokens: ES256 signing keys with rotation and JWKS, access tokens, sessions and rotating
refresh tokens."""
