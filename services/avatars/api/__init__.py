"""HTTP routes: the player's upload API, the upload URL, media, the page, the admin API."""
