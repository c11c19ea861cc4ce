"""JWT verification (HS256 secret or JWKS), constant-time comparison."""
