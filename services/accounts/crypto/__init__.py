"""Personal data under envelope encryption (Google Tink): master keys in a key manager, one
fresh data key per write, blind indexes for lookups, background re-wrapping."""
