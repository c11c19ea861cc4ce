from __future__ import annotations

from pathlib import Path

import pytest

from tests.accounts_support import running_accounts

pytestmark = pytest.mark.integration


async def test_signup_verify_signin(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as svc:
        await svc.verified_account("ann@example.com", profile={"name": "Ann Smith"})
        tokens = await svc.signin("ann@example.com")
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        _, me = await svc.call("GET", "/accounts/api/me", headers=auth, expect=200)
        assert me["email"] == "ann@example.com"
        assert me["profile"] == {"name": "Ann Smith"}
