"""Channel names and who may subscribe to what (docs/notifier-protocol.md, "Channels").

- `user:<sub>`: only the user whose token `sub` it is; subscribed automatically on auth.
- `broadcast`: any authenticated user.
- `job:<id>`: the user who submitted the job (its owner in the job store).
- a channel matching one of the public patterns (`NOTIFIER_PUBLIC_CHANNELS`, default `zone:*`):
  any authenticated user. These patterns never apply to `user:` or `job:` channels.
- anything else: only when the token's `channels` claim (a list, or a space-separated string)
  holds the channel or a pattern matching it, such as `zone:*`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from shared.events.contracts.notifier import CHANNEL_PATTERN

_CHANNEL = re.compile(CHANNEL_PATTERN)
_SEPARATORS = re.compile(r"[\s,]+")
_PRIVATE_KINDS = frozenset({"user", "job"})
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


def public_patterns(text: str) -> tuple[str, ...]:
    """`NOTIFIER_PUBLIC_CHANNELS` as patterns: space- and/or comma-separated."""
    return tuple(item for item in _SEPARATORS.split(text) if item)


def _matches(channel: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(channel, pattern) for pattern in patterns)


class Access:
    def __init__(self, job_owner: OwnerLookup | None = None, public: Iterable[str] = ()) -> None:
        self.job_owner = job_owner
        self.public = tuple(public)

    async def allowed(self, channel: str, subject: str, claims: dict[str, Any]) -> bool:
        kind, _, rest = channel.partition(":")
        if kind == "user":
            return rest == subject
        if channel == "broadcast":
            return True
        if kind not in _PRIVATE_KINDS and _matches(channel, self.public):
            return True
        owner = self.job_owner
        if kind == "job" and owner is not None and rest and await owner(rest) == subject:
            return True
        return _matches(channel, granted_patterns(claims))
