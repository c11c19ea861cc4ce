"""The admin API (its own aiohttp app and port, behind ADMIN_TOKEN)."""
