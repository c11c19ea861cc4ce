"""Personal data under envelope encryption: a copy of the database without the key manager
reveals no personal field, master-key rotation re-wraps every data key and loses nothing (reads
work across keys meanwhile), erasure destroys the data key and announces `accounts.deleted`, and
the AWS KMS key manager works against moto's KMS server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import bson
import pytest
from moto.server import ThreadedMotoServer

from services.accounts.crypto.envelope import Envelope, Sealed
from services.accounts.crypto.masterkeys import AwsKmsKeys, LocalKeyset, UnknownKeyError
from services.accounts.keys import REWRAPPER
from shared.bus.codec import decode
from shared.events.catalog import CATALOG
from shared.events.contracts.accounts import ACCOUNT_CHANGED, ACCOUNT_DELETED
from shared.stack.servers import free_port
from tests.accounts_support import ADMIN, PASSWORD, Service, running_accounts

pytestmark = pytest.mark.integration

EMAIL, PHONE = "noor.haddad@example.com", "+442071838750"
PERSON: dict[str, Any] = {
    "email": "noor.haddad@example.com",
    "phone": "+442071838750",
    "profile": {
        "name": "Noor Haddad",
        "given_name": "Noor",
        "family_name": "Haddad",
        "birthdate": "1979-11-23",
        "address": {"street_address": "221B Baker Street", "locality": "Marylebone"},
    },
}
SECRETS = [
    "noor.haddad@example.com",
    "Noor Haddad",
    "Haddad",
    "+442071838750",
    "2071838750",
    "1979-11-23",
    "221B Baker Street",
    "Marylebone",
    "ext-noor-1",
]


async def populate(svc: Service) -> str:
    await svc.verified_account(EMAIL, phone=PHONE, profile=PERSON["profile"])
    tokens = await svc.signin(EMAIL)
    auth = svc.auth(tokens)
    await svc.call("POST", "/accounts/api/me/totp", headers=auth, expect=200)
    await svc.call(
        "POST",
        "/accounts/admin/tenants",
        headers=ADMIN,
        json={"id": "bank", "name": "B"},
        expect=201,
    )
    await svc.call(
        "POST",
        "/accounts/admin/tenants/bank/import",
        headers=ADMIN,
        json={
            "users": [
                {
                    "external_id": "ext-noor-1",
                    "email": EMAIL,
                    "email_verified": True,
                    "profile": {"nickname": "Marylebone"},
                }
            ]
        },
        expect=200,
    )
    return str(tokens["account_id"])


async def dump(svc: Service) -> bytes:
    db = svc.ctx.accounts.store.db
    out = b""
    for name in await db.list_collection_names():
        async for doc in db[name].find({}):
            out += bson.encode(doc)
    return out


async def test_a_database_dump_without_the_key_reveals_no_personal_field(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as svc:
        account_id = await populate(svc)
        raw = await dump(svc)
        events = b"".join(r.value for t in svc.bus.logs for r in svc.bus.records(t))
        account = await svc.ctx.accounts.get(account_id)
        assert account is not None
        personal = await svc.ctx.accounts.personal(account)
        assert personal is not None
        assert personal.pending_totp_secret is not None
        for value in [*SECRETS, personal.pending_totp_secret]:
            for form in {value, value.lower(), value.upper()}:
                assert form.encode() not in raw, f"{form!r} in the database"
                assert form.encode() not in events, f"{form!r} on the bus"
        assert account_id.encode() in raw  # the ids are there; the person is not
        # Without the key manager's key (another keyset), the blob does not open.
        doc = await svc.ctx.accounts.store.db["accounts"].find_one({"_id": account_id})
        assert doc is not None
        stranger = Envelope(LocalKeyset.open(tmp_path / "elsewhere" / "keys.json"))
        with pytest.raises(UnknownKeyError):
            stranger.open(Sealed.of(doc["sealed"]), account_id.encode())


async def test_master_key_rotation_rewraps_everything_and_loses_nothing(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as svc:
        ids = [await populate(svc)]
        for n in range(3):
            await svc.verified_account(f"user{n}@example.com", profile={"name": f"User {n}"})
            ids.append((await svc.signin(f"user{n}@example.com"))["account_id"])
        before = {i: await svc.ctx.accounts.personal(await svc.ctx.accounts.get(i)) for i in ids}  # type: ignore[arg-type]
        keys = svc.ctx.envelope.keys
        assert isinstance(keys, LocalKeyset)
        old = keys.current
        _, rotated = await svc.call(
            "POST", "/accounts/admin/keys/master/rotate", headers=ADMIN, expect=202
        )
        new = rotated["current"]
        assert new != old
        # Reads work across keys while records still name the old one.
        await svc.signin("user0@example.com")
        await svc.app[REWRAPPER].run_once()
        _, status = await svc.call("GET", "/accounts/admin/keys", headers=ADMIN, expect=200)
        assert set(status["master"]["records"]) == {new}, status
        keys.retire(old)  # nothing needs the old key any more
        assert keys.known() == [new]
        for account_id, personal in before.items():
            account = await svc.ctx.accounts.get(account_id)
            assert account is not None
            assert account.sealed is not None
            assert account.sealed.kek == new
            assert await svc.ctx.accounts.personal(account) == personal
        await svc.signin("user1@example.com")  # blind index and signing keys re-wrapped too
        _, jwks = await svc.call("GET", "/accounts/.well-known/jwks.json", expect=200)
        assert jwks["keys"]


async def test_erasure_shreds_the_data_key_and_announces_the_deletion(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as svc:
        account_id = await populate(svc)
        tokens = await svc.signin(EMAIL)
        auth = svc.auth(tokens)
        before = await svc.ctx.accounts.store.db["accounts"].find_one({"_id": account_id})
        assert before is not None
        await svc.call(
            "DELETE",
            "/accounts/api/me",
            headers=auth,
            json={"password": "wrong-one-123"},
            expect=401,
        )
        await svc.call(
            "DELETE", "/accounts/api/me", headers=auth, json={"password": PASSWORD}, expect=204
        )
        after = await svc.ctx.accounts.store.db["accounts"].find_one({"_id": account_id})
        assert after is not None
        assert after["status"] == "deleted"
        assert after["sealed"] is None, "the wrapped data key is gone: no copy decrypts again"
        assert after["email_index"] == ""
        assert (
            await svc.ctx.accounts.store.db["lookups"].count_documents({"account": account_id}) == 0
        )
        deleted = [decode(r, CATALOG) for r in svc.bus.records(ACCOUNT_DELETED.topic)]
        assert [(e.data.account_id, e.data.reason) for e in deleted] == [(account_id, "user")]
        assert await svc.ctx.events.outbox.count_documents({}) == 0, "published, unstaged"
        status, _ = await svc.call("GET", "/accounts/api/me", headers=auth)
        assert status == 401
        status, _ = await svc.call(
            "POST", "/accounts/api/signin", json={"email": EMAIL, "password": PASSWORD}
        )
        assert status == 401
        await svc.verified_account(EMAIL)  # the address is free again
        changed = [decode(r, CATALOG) for r in svc.bus.records(ACCOUNT_CHANGED.topic)]
        assert all(e.data.sealed is None or e.data.sealed.blob for e in changed)


async def test_a_crashed_writer_leaves_events_the_relay_still_publishes(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as svc:
        account_id = await populate(svc)
        account = await svc.ctx.accounts.get(account_id)
        assert account is not None
        from shared.events.contracts.accounts import AccountDeleted

        # Staged, then "crashed" before the write: never published, since it did not happen.
        await svc.ctx.events.stage(ACCOUNT_DELETED, AccountDeleted(account_id=account_id))
        svc.clock.advance(31)

        async def deleted(_: str) -> bool:
            return False

        assert await svc.ctx.events.relay_once(deleted) == 0
        assert await svc.ctx.events.outbox.count_documents({}) == 0


@pytest.fixture
def moto_kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


async def test_aws_kms_key_manager_against_moto_server(tmp_path: Path, moto_kms: str) -> None:
    kms: Any = boto3.client("kms", region_name="us-east-1", endpoint_url=moto_kms)
    first = kms.create_key()["KeyMetadata"]["Arn"]
    second = kms.create_key()["KeyMetadata"]["Arn"]
    keys = AwsKmsKeys(f"aws-kms://{first}", endpoint_url=moto_kms)
    async with running_accounts(tmp_path, master_keys=keys) as svc:
        await svc.verified_account("kms@example.com", profile={"name": "Kay Ms"})
        tokens = await svc.signin("kms@example.com")
        account = await svc.ctx.accounts.get(tokens["account_id"])
        assert account is not None
        assert account.sealed is not None
        assert account.sealed.kek == f"aws-kms://{first}"
    # Rotation at the key manager: a new current key, the old one listed for reading.
    rotated = AwsKmsKeys(f"aws-kms://{second}", [f"aws-kms://{first}"], endpoint_url=moto_kms)
    async with running_accounts(tmp_path, master_keys=rotated) as svc:
        await svc.signin("kms@example.com")
        await svc.app[REWRAPPER].run_once()
        account = await svc.ctx.accounts.get(tokens["account_id"])
        assert account is not None
        assert account.sealed is not None
        assert account.sealed.kek == f"aws-kms://{second}"
        personal = await svc.ctx.accounts.personal(account)
        assert personal is not None
        assert personal.profile.name == "Kay Ms"
    # Only the new key: everything still opens.
    async with running_accounts(
        tmp_path, master_keys=AwsKmsKeys(f"aws-kms://{second}", endpoint_url=moto_kms)
    ) as svc:
        tokens = await svc.signin("kms@example.com")
        auth = svc.auth(tokens)
        _, me = await svc.call("GET", "/accounts/api/me", headers=auth, expect=200)
        assert me["profile"] == {"name": "Kay Ms"}
