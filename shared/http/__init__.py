"""The aiohttp runtime every service uses."""
