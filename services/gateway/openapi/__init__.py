"""OpenAPI 3.1 documents for the public and admin surfaces."""
