"""The operator API under /accounts/admin/ (ADMIN_TOKEN; not routed by the gateway)."""
