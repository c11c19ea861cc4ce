"""MongoDB through PyMongo's async API, or an in-process stand-in when MONGODB_URL is unset.

STUB: implemented by the http/store/security work. Public API (keep it):

    store = await open_store(platform_settings, service="gateway")
    store.db            # pymongo AsyncDatabase (or the mongomock-motor stand-in, same calls)
    store.durable       # False for the stand-in
    await store.ensure_indexes({"api_keys": [IndexModel([("hash", 1)], unique=True)]})
    await store.ping()  # True when reachable (readiness)
    await store.close()
"""
