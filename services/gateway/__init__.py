"""The API gateway: the single public entry point."""
