"""Password hashes: argon2id (argon2-cffi) for everything we write, legacy bcrypt and
PBKDF2-SHA256 hashes imported from other systems verified once and then replaced.

Every hash and verification runs in a thread pool (argon2-cffi and bcrypt release the GIL), never
on the event loop. An unknown account is "verified" against a dummy argon2id hash made with the
same parameters, so a miss costs what a hit costs (no timing oracle on account existence).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import bcrypt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

ARGON2 = "argon2id"
LEGACY_SCHEMES = ("bcrypt", "pbkdf2_sha256")
T = TypeVar("T")


class UnsupportedHashError(ValueError):
    pass


@dataclass(frozen=True)
class Verdict:
    ok: bool
    # The password should be stored again as a fresh argon2id hash (legacy scheme, or argon2
    # parameters below the configured ones).
    rehash: bool = False


def scheme_of(stored: str) -> str:
    """The scheme of a stored or imported hash; UnsupportedHashError for anything else."""
    if stored.startswith("$argon2id$"):
        return ARGON2
    if stored.startswith(("$2a$", "$2b$", "$2y$")):
        return "bcrypt"
    if stored.startswith(("pbkdf2_sha256$", "$pbkdf2-sha256$")):
        _pbkdf2_parts(stored)
        return "pbkdf2_sha256"
    raise UnsupportedHashError("hashes must be argon2id, bcrypt or PBKDF2-SHA256")


def _ab64(text: str) -> bytes:
    """passlib's adapted base64 (`.` for `+`, no padding)."""
    return base64.b64decode(text.replace(".", "+") + "=" * (-len(text) % 4), validate=True)


def _pbkdf2_parts(stored: str) -> tuple[int, bytes, bytes]:
    """(iterations, salt, digest) of Django's `pbkdf2_sha256$it$salt$b64` or passlib's
    `$pbkdf2-sha256$it$ab64salt$ab64digest`."""
    try:
        if stored.startswith("pbkdf2_sha256$"):
            _, iterations, salt, digest = stored.split("$")
            return int(iterations), salt.encode(), base64.b64decode(digest, validate=True)
        _, _, iterations, salt, digest = stored.split("$")
        return int(iterations), _ab64(salt), _ab64(digest)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise UnsupportedHashError("malformed PBKDF2-SHA256 hash") from exc


class Hasher:
    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int, workers: int) -> None:
        self._argon2 = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._dummy = self._argon2.hash("not a password: equal timing for unknown accounts")

    @property
    def argon2(self) -> PasswordHasher:
        return self._argon2

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def hash(self, password: str) -> str:
        return await self._run(self._argon2.hash, password)

    async def verify(self, stored: str | None, password: str) -> Verdict:
        """Check `password` against `stored` (None: an unknown account, same cost)."""
        return await self._run(self._verify, stored, password)

    def _verify(self, stored: str | None, password: str) -> Verdict:
        if stored is None:
            self._check_argon2(self._dummy, password)
            return Verdict(False)
        scheme = scheme_of(stored)
        if scheme == ARGON2:
            ok = self._check_argon2(stored, password)
            return Verdict(ok, ok and self._argon2.check_needs_rehash(stored))
        if scheme == "bcrypt":
            ok = bcrypt.checkpw(password.encode()[:72], stored.encode())
            return Verdict(ok, ok)
        iterations, salt, digest = _pbkdf2_parts(stored)
        computed = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, len(digest))
        ok = hmac.compare_digest(computed, digest)
        return Verdict(ok, ok)

    def _check_argon2(self, stored: str, password: str) -> bool:
        try:
            return bool(self._argon2.verify(stored, password))
        except (VerificationError, InvalidHashError):
            return False

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
