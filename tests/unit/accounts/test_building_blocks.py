"""The accounts service's building blocks on their own: return paths, hash schemes, password
rules, the local key manager and the envelope."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import bcrypt
import pytest
from tink import TinkError

from services.accounts.credentials.hashing import Hasher, UnsupportedHashError, scheme_of
from services.accounts.credentials.policy import WeakPasswordError, check_password
from services.accounts.crypto.envelope import Envelope
from services.accounts.crypto.masterkeys import LocalKeyset, UnknownKeyError
from services.accounts.records.identifiers import IdentifierError, normal_email, normal_phone
from services.accounts.returnpath import safe_return

pytestmark = pytest.mark.unit
SAME_SITE = "/waitingroom/page/?zone=a&return=%2Ftickets%2Fa%2F"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (SAME_SITE, SAME_SITE),
        ("//evil.example/x", "/accounts/account"),
        ("https://evil.example/", "/accounts/account"),
        ("/\\evil.example", "/accounts/account"),
        ("/ok\r\nSet-Cookie: x=1", "/accounts/account"),
        ("javascript:alert(1)", "/accounts/account"),
        (None, "/accounts/account"),
    ],
)  # fmt: skip
def test_return_paths_stay_on_this_site(given: str | None, expected: str) -> None:
    assert safe_return(given) == expected


def test_hash_schemes_are_recognised_or_refused() -> None:
    assert scheme_of(bcrypt.hashpw(b"x", bcrypt.gensalt(4)).decode()) == "bcrypt"
    assert scheme_of("pbkdf2_sha256$1000$salt$AAAA") == "pbkdf2_sha256"
    for bad in ("md5$x", "pbkdf2_sha256$x$y", "$pbkdf2-sha256$1$!!$??", "plain"):
        with pytest.raises(UnsupportedHashError):
            scheme_of(bad)


async def test_argon2_verdicts_and_the_dummy_for_unknown_accounts() -> None:
    hasher = Hasher(time_cost=1, memory_kib=1024, parallelism=1, workers=1)
    try:
        stored = await hasher.hash("right-password-1")
        assert (await hasher.verify(stored, "right-password-1")).ok
        assert not (await hasher.verify(stored, "wrong-password-1")).ok
        assert not (await hasher.verify(None, "right-password-1")).ok
        stronger = Hasher(time_cost=2, memory_kib=1024, parallelism=1, workers=1)
        assert (await stronger.verify(stored, "right-password-1")).rehash
        stronger.close()
    finally:
        hasher.close()
    await asyncio.sleep(0)


def test_password_rules() -> None:
    with pytest.raises(WeakPasswordError, match="at least 10"):
        check_password("short", min_length=10, min_score=3)
    with pytest.raises(WeakPasswordError) as weak:
        check_password("leepark1988", min_length=10, min_score=3, user_inputs=["leepark@x.io"])
    assert "strength" in weak.value.reason
    assert check_password("violet-anchor-drum-comet", min_length=10, min_score=3) >= 3


def test_identifiers_are_normalised() -> None:
    assert normal_email(" Ann.Smith@EXAMPLE.com ") == "ann.smith@example.com"
    assert normal_phone("+44 20 7183 8750") == "+442071838750"
    assert normal_phone("030 1234567", "DE") == "+49301234567"
    for bad in ("nope", "a@b"):
        with pytest.raises(IdentifierError):
            normal_email(bad)
    with pytest.raises(IdentifierError):
        normal_phone("+1 555")


def test_local_keyset_is_private_rotates_and_is_seen_by_other_processes(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.json"
    keys = LocalKeyset.open(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = keys.current
    other = LocalKeyset.open(path)  # another process reading the same file
    new = keys.rotate()
    assert other.current == new != first
    assert sorted(other.known()) == sorted([first, new])
    keys.retire(first)
    with pytest.raises(UnknownKeyError):
        other.aead(first)
    with pytest.raises(ValueError, match="primary"):
        keys.retire(new)


def test_envelope_seals_with_fresh_data_keys_and_rewraps(tmp_path: Path) -> None:
    keys = LocalKeyset.open(tmp_path / "k.json")
    envelope = Envelope(keys)
    one, two = envelope.seal(b"personal", b"acct-1"), envelope.seal(b"personal", b"acct-1")
    assert one.dek != two.dek, "a fresh data key per seal"
    assert envelope.open(one, b"acct-1") == b"personal"
    with pytest.raises(TinkError):
        envelope.open(one, b"acct-2")  # bound to its account
    keys.rotate()
    moved = envelope.rewrap(one)
    assert (moved.kek, moved.blob) == (keys.current, one.blob), "only the data key is re-wrapped"
    assert envelope.open(moved, b"acct-1") == b"personal"
