"""Program core data: the store, the L1 cache, the change stream and the admin API."""
