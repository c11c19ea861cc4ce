"""Many companies, one person: a tenant's users imported in bulk, legacy bcrypt and PBKDF2 hashes
upgraded to argon2id on the first sign-in, duplicates across three tenants merged by verified
email or phone with a merge history, and a conflict sent to the operator's review queue."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from tests.accounts_support import ADMIN, Service, running_accounts

pytestmark = pytest.mark.integration


def django_pbkdf2(password: str, salt: str = "NaCl0123", iterations: int = 1000) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode()}"


def passlib_pbkdf2(password: str, iterations: int = 1000) -> str:
    salt = b"salty-salt-16byt"
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"$pbkdf2-sha256${iterations}${_ab64(salt)}${_ab64(digest)}"


def _ab64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=").replace("+", ".")


async def tenant(svc: Service, tenant_id: str) -> None:
    await svc.call(
        "POST",
        "/accounts/admin/tenants",
        headers=ADMIN,
        json={"id": tenant_id, "name": tenant_id.title()},
        expect=201,
    )


async def load(svc: Service, tenant_id: str, *users: dict[str, Any]) -> dict[str, Any]:
    _, answer = await svc.call(
        "POST",
        f"/accounts/admin/tenants/{tenant_id}/import",
        headers=ADMIN,
        json={"users": list(users)},
        expect=200,
    )
    assert isinstance(answer, dict)
    return answer


@pytest.fixture
async def svc(tmp_path: Path) -> Any:
    async with running_accounts(tmp_path) as service:
        for tenant_id in ("food", "mall", "travel"):
            await tenant(service, tenant_id)
        yield service


@pytest.mark.parametrize(
    "legacy",
    [
        pytest.param(
            lambda pw: bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode(), id="bcrypt"
        ),
        pytest.param(django_pbkdf2, id="pbkdf2-django"),
        pytest.param(passlib_pbkdf2, id="pbkdf2-passlib"),
    ],
)
async def test_legacy_hashes_verify_once_and_become_argon2id(svc: Service, legacy: Any) -> None:
    password = "old-system-password-1"
    answer = await load(
        svc,
        "food",
        {
            "external_id": "u-1",
            "email": "jo@example.com",
            "email_verified": True,
            "password_hash": legacy(password),
        },
    )
    account_id = answer["results"][0]["account_id"]
    status, _ = await svc.call(
        "POST", "/accounts/api/signin", json={"email": "jo@example.com", "password": "nope-nope-1"}
    )
    assert status == 401
    await svc.signin("jo@example.com", password)
    account = await svc.ctx.accounts.get(account_id)
    assert account is not None
    assert account.password is not None
    assert account.password.startswith("$argon2id$")
    assert account.old_hashes == []
    await svc.signin("jo@example.com", password)  # now through argon2id


async def test_argon2_hashes_are_rehashed_upward(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as svc:
        await svc.verified_account("kim@example.com")
    async with running_accounts(tmp_path, argon2_time_cost=2, argon2_memory_kib=2048) as svc:
        tokens = await svc.signin("kim@example.com")
        account = await svc.ctx.accounts.get(tokens["account_id"])
        assert account is not None
        assert account.password is not None
        assert "m=2048,t=2" in account.password


async def test_duplicates_across_three_tenants_merge_and_a_conflict_waits_for_review(
    svc: Service,
) -> None:
    first = await load(
        svc,
        "food",
        {
            "external_id": "f-1",
            "email": "Lee@Example.com",
            "email_verified": True,
            "phone": "+14155550123",
            "phone_verified": True,
            "profile": {"name": "Lee Park", "locale": "en-US"},
            "password_hash": bcrypt.hashpw(b"food-password-1", bcrypt.gensalt(4)).decode(),
        },
        {"external_id": "f-2", "email": "max@example.com", "email_verified": True},
    )
    assert first["counts"] == {"created": 2}
    lee = first["results"][0]["account_id"]
    # The same person at the mall, found by the verified email; at the travel agency by the
    # verified phone (another email address there).
    mall = await load(
        svc,
        "mall",
        {
            "external_id": "m-77",
            "email": "lee@example.com",
            "email_verified": True,
            "profile": {"name": "L. Park", "birthdate": "1988-02-03"},
            "password_hash": django_pbkdf2("mall-password-1"),
        },
    )
    travel = await load(
        svc,
        "travel",
        {
            "external_id": "t-9",
            "email": "lee.park@work.example",
            "email_verified": True,
            "phone": "+1 415 555 0123",
            "phone_verified": True,
        },
        # Max's email, but not verified at this tenant: no automatic merge.
        {"external_id": "t-10", "email": "max@example.com", "email_verified": False},
        # Email of one account, phone of another: an operator decides.
        {
            "external_id": "t-11",
            "email": "max@example.com",
            "email_verified": True,
            "phone": "+14155550123",
            "phone_verified": True,
        },
    )
    assert mall["results"][0] == {
        "external_id": "m-77",
        "outcome": "merged",
        "account_id": lee,
        "reason": "kept the account's name",
    }
    outcomes = [(r["outcome"], r.get("account_id")) for r in travel["results"]]
    assert outcomes == [("merged", lee), ("review", None), ("review", None)]
    again = await load(svc, "mall", {"external_id": "m-77", "email": "lee@example.com"})
    assert again["results"][0]["outcome"] == "unchanged", "re-importing is idempotent"

    account = await svc.ctx.accounts.get(lee)
    assert account is not None
    assert account.tenants == ["food", "mall", "travel"]
    personal = await svc.ctx.accounts.personal(account)
    assert personal is not None
    assert personal.profile.name == "Lee Park"
    assert str(personal.profile.birthdate) == "1988-02-03", "empty fields filled"
    assert sorted(link.tenant for link in personal.links) == ["food", "mall", "travel"]
    # Each tenant's old password works once (then argon2id replaces them all).
    await svc.signin("lee@example.com", "mall-password-1")
    status, _ = await svc.call(
        "POST",
        "/accounts/api/signin",
        json={"email": "lee@example.com", "password": "food-password-1"},
    )
    assert status == 401

    _, history = await svc.call(
        "GET", f"/accounts/admin/accounts/{lee}/merges", headers=ADMIN, expect=200
    )
    assert [(m["tenant"], m["matched_by"]) for m in history["merges"]] == [
        ("mall", "email"),
        ("travel", "phone"),
    ]
    _, queue = await svc.call("GET", "/accounts/admin/reviews", headers=ADMIN, expect=200)
    reasons = {r["id"]: r for r in queue["reviews"]}
    assert len(reasons) == 2
    two_accounts = next(r for r in reasons.values() if len(r["candidates"]) == 2)
    max_id = first["results"][1]["account_id"]
    assert sorted(two_accounts["candidates"]) == sorted([lee, max_id])
    await svc.call(
        "POST",
        f"/accounts/admin/reviews/{two_accounts['id']}",
        headers=ADMIN,
        json={"decision": "merge", "account": "someone-else"},
        expect=400,
    )
    _, decided = await svc.call(
        "POST",
        f"/accounts/admin/reviews/{two_accounts['id']}",
        headers=ADMIN,
        json={"decision": "merge", "account": max_id},
        expect=200,
    )
    assert (decided["status"], decided["account_id"]) == ("merged", max_id)
    other = next(r for r in reasons if r != two_accounts["id"])
    await svc.call(
        "POST",
        f"/accounts/admin/reviews/{other}",
        headers=ADMIN,
        json={"decision": "reject"},
        expect=200,
    )
    _, queue = await svc.call("GET", "/accounts/admin/reviews", headers=ADMIN, expect=200)
    assert queue["reviews"] == []
    _, history = await svc.call(
        "GET", f"/accounts/admin/accounts/{max_id}/merges", headers=ADMIN, expect=200
    )
    assert [m["matched_by"] for m in history["merges"]] == ["operator"]


async def test_import_refuses_bad_input(svc: Service) -> None:
    status, problem = await svc.call(
        "POST",
        "/accounts/admin/tenants/food/import",
        headers=ADMIN,
        json={"users": [{"external_id": "x", "email": "a@example.com", "password_hash": "md5$x"}]},
    )
    assert status == 400
    assert problem["errors"][0]["field"] == "users.0.password_hash"
    status, _ = await svc.call(
        "POST", "/accounts/admin/tenants/nope/import", headers=ADMIN, json={"users": []}
    )
    assert status == 404
    status, _ = await svc.call("POST", "/accounts/admin/tenants/food/import", json={"users": []})
    assert status == 401
    answer = await load(svc, "food", {"external_id": "y", "email": "not-an-address"})
    assert answer["results"][0]["outcome"] == "error"
