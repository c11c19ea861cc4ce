"""Tenants (the seed's companies), their applications (OIDC clients), the bulk import with
duplicate merging, and the operator review queue."""
