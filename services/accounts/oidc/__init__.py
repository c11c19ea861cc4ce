"""The OpenID Connect provider: discovery, JWKS, authorization code + PKCE, token, userinfo,
built on Authlib's OAuth 2.0 / OIDC server components (joserfc for the JOSE work)."""
