"""Authentication and authorization: credentials (JWT, API keys, waiting-room access tokens),
the verified identity forwarded upstream, and zone gatekeeping."""
