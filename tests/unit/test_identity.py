"""The identity assertion itself: keys and rotation, what it carries, the signer's and the
verifier's caches, refusals."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from shared.security.errors import TokenError
from shared.security.identity import (
    MAX_CLAIMS_BYTES,
    Caller,
    CallerKind,
    IdentityKeys,
    IdentitySigner,
    IdentityVerifier,
)
from tests.clock import ManualClock as Clock

pytestmark = pytest.mark.unit

OLD = "old:" + "o" * 40
NEW = "new:" + "n" * 40
USER = Caller(
    kind="jwt",
    subject="ann",
    scopes=frozenset({"orders:read", "profile"}),
    roles=frozenset({"buyer"}),
    key_id="0123456789ab",
    plan_id="gold",
    claims={"sub": "ann", "channels": ["zone:*"], "tier": "vip"},
)


def test_keys_parse_the_first_signs_and_bad_values_are_refused_without_the_secret() -> None:
    keys = IdentityKeys.parse(f"{NEW}, {OLD}")
    assert keys.signing_kid == "new"
    assert set(keys.secrets) == {"new", "old"}
    generated = IdentityKeys.parse(IdentityKeys.generate())
    assert len(generated.secrets[generated.signing_kid]) >= 32
    for bad in ("", "nokid", "k1:short", f"{OLD},{OLD}", "bad kid:" + "x" * 40):
        with pytest.raises(ValueError, match="IDENTITY_KEYS") as caught:
            IdentityKeys.parse(bad)
        assert "o" * 40 not in str(caught.value)


def test_an_assertion_carries_the_caller_for_one_audience() -> None:
    keys = IdentityKeys.parse(NEW)
    value = IdentitySigner(keys, "gateway").sign(USER, "waitingroom")
    seen = IdentityVerifier(keys, "waitingroom").verify(value)
    assert seen == USER
    assert seen.claims == {"channels": ["zone:*"], "tier": "vip"}
    with pytest.raises(TokenError, match="bad_audience"):
        IdentityVerifier(keys, "shop").verify(value)


def test_rotation_old_assertions_still_verify_while_the_new_key_signs() -> None:
    before = IdentitySigner(IdentityKeys.parse(OLD), "gateway").sign(USER, "shop")
    rotated = IdentityKeys.parse(f"{NEW},{OLD}")  # step 2: new first, old still accepted
    after = IdentitySigner(rotated, "gateway").sign(USER, "shop")
    verifier = IdentityVerifier(rotated, "shop")
    assert verifier.verify(before) == verifier.verify(after) == USER
    retired = IdentityVerifier(IdentityKeys.parse(NEW), "shop")  # step 3: old dropped
    with pytest.raises(TokenError, match="unknown_key"):
        retired.verify(before)
    assert retired.verify(after) == USER


def test_the_signer_signs_once_per_half_life_and_again_for_other_claims() -> None:
    clock = Clock(1_900_000_000.0)
    signer = IdentitySigner(IdentityKeys.parse(NEW), "gateway", ttl=60, clock=clock)
    first = signer.sign(USER, "shop")
    clock.now += 29
    assert signer.sign(USER, "shop") is first  # cached: no signature per request
    assert signer.sign(USER, "waitingroom") != first  # one per audience
    same_but_claims = _fields(USER, claims={"x": 1})
    assert same_but_claims == USER  # equal as a caller...
    assert signer.sign(same_but_claims, "shop") != first  # ...but its claims are its own
    clock.now += 31
    assert signer.sign(USER, "shop") != first  # half the life has passed: re-signed


def test_the_verifier_remembers_a_value_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = IdentityKeys.parse(NEW)
    value = IdentitySigner(keys, "gateway", ttl=60).sign(USER, "shop")
    clock = Clock(time.time())
    verifier = IdentityVerifier(keys, "shop", clock=clock)
    assert verifier.verify(value) == USER
    decoded: list[str] = []
    real = verifier._verify

    def counting(text: str) -> Caller:
        decoded.append(text)
        return real(text)

    monkeypatch.setattr(verifier, "_verify", counting)
    assert verifier.verify(value) == USER
    assert decoded == []  # a dictionary lookup, no signature check
    clock.now += 60 + 5  # past exp and the skew allowance: checked in full, and refused
    with pytest.raises(TokenError, match="expired"):
        verifier.verify(value)
    assert decoded == [value]


def test_oversized_claims_are_left_out_not_forwarded() -> None:
    keys = IdentityKeys.parse(NEW)
    big = _fields(USER, claims={"blob": "x" * (MAX_CLAIMS_BYTES + 1)})
    value = IdentitySigner(keys, "gateway").sign(big, "shop")
    seen = IdentityVerifier(keys, "shop").verify(value)
    assert seen == USER
    assert seen.claims == {}
    assert len(value) < 2 * MAX_CLAIMS_BYTES


@pytest.mark.parametrize("kind", ["jwt", "service"])
def test_a_user_or_service_without_a_subject_is_malformed(kind: CallerKind) -> None:
    keys = IdentityKeys.parse(NEW)
    value = IdentitySigner(keys, "gateway").sign(Caller(kind=kind), "shop")
    with pytest.raises(TokenError, match="malformed"):
        IdentityVerifier(keys, "shop").verify(value)


def _fields(caller: Caller, **changes: Any) -> Caller:
    return dataclasses.replace(caller, **changes)
