"""Channel names and who may subscribe to what (docs/notifier-protocol.md, "Channels").

- `user:<sub>`: only the user whose token `sub` it is; subscribed automatically on auth.
- `broadcast`: any authenticated user.
- `job:<id>`: the user who submitted the job (its owner in the job store).
- anything else (`zone:<id>`, ...): only when the token's `channels` claim (a list, or a
  space-separated string) holds the channel or a pattern matching it, such as `zone:*`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Awaitable, Callable
from typing import Any

from shared.events.contracts.notifier import CHANNEL_PATTERN

_CHANNEL = re.compile(CHANNEL_PATTERN)
OwnerLookup = Callable[[str], Awaitable[str | None]]


def valid(channel: str) -> bool:
    return len(channel) <= 200 and _CHANNEL.match(channel) is not None


def user_channel(subject: str) -> str:
    return f"user:{subject}"


def granted_patterns(claims: dict[str, Any]) -> list[str]:
    raw = claims.get("channels")
    if isinstance(raw, str):
        return raw.split()
    if isinstance(raw, list):
        return [item for item in raw if isinstance(item, str)]
    return []


class Access:
    def __init__(self, job_owner: OwnerLookup | None = None) -> None:
        self.job_owner = job_owner

    async def allowed(self, channel: str, subject: str, claims: dict[str, Any]) -> bool:
        kind, _, rest = channel.partition(":")
        if kind == "user":
            return rest == subject
        if channel == "broadcast":
            return True
        owner = self.job_owner
        if kind == "job" and owner is not None and rest and await owner(rest) == subject:
            return True
        return any(fnmatch.fnmatchcase(channel, pattern) for pattern in granted_patterns(claims))
