"""The accounts application (port ACCOUNTS_PORT): the JSON API under /accounts/api/, the pages,
the OpenID Connect endpoints and, behind ADMIN_TOKEN, the operator API under /accounts/admin/.

Start order: bus, store (shared contexts) -> core: the key manager, the blind-index key, the
signing keys, indexes, the hashing pool, then the background loops (signing-key refresh and
rotation, outbox relay, master-key re-wrap). Stop runs it backwards.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from services.accounts import pages
from services.accounts.admin import routes as admin
from services.accounts.api import me, signin, signup
from services.accounts.credentials.backoff import Backoff
from services.accounts.credentials.hashing import Hasher
from services.accounts.crypto.blindindex import load_blind_index
from services.accounts.crypto.envelope import Envelope
from services.accounts.crypto.masterkeys import (
    AwsKmsKeys,
    LocalKeyset,
    MasterKeys,
    VaultKeys,
    split_uris,
)
from services.accounts.crypto.rotation import Rewrapper
from services.accounts.events import Events
from services.accounts.keys import ACCOUNTS_SETTINGS, CONTEXT, REWRAPPER, Context
from services.accounts.mail import FileSender, LogSender, MailSender
from services.accounts.oidc import endpoints as oidc
from services.accounts.records.store import Accounts
from services.accounts.settings import AccountsSettings
from services.accounts.tenants.store import Tenants
from services.accounts.tokens.issuer import Issuer
from services.accounts.tokens.sessions import Sessions
from services.accounts.tokens.signing import SigningKeys
from shared.events.contracts.accounts import ACCOUNT_CHANGED, ACCOUNT_DELETED
from shared.http.app import BusFactory, create_app, kafka_bus
from shared.http.keys import BUS, STORE
from shared.security.networks import parse_networks

log = logging.getLogger("services.accounts")
SIGNING_REFRESH_SECONDS = 30.0


async def init_app(
    settings: AccountsSettings | None = None,
    *,
    bus: BusFactory = kafka_bus,
    clock: Callable[[], float] = time.time,
    mail: MailSender | None = None,
    master_keys: MasterKeys | None = None,
) -> web.Application:
    settings = settings or AccountsSettings()
    app = create_app(
        "accounts",
        settings,
        bus=bus,
        store=True,
        topics=[ACCOUNT_CHANGED.topic, ACCOUNT_DELETED.topic],
        middlewares=[admin.require_admin],
        # The operator API takes ADMIN_TOKEN; the JWKS and discovery are read by every service
        # (AUTH_JWKS_URL) and by clients, directly.
        identity_exempt=(admin.PREFIX, "/accounts/.well-known/"),
    )
    app[ACCOUNTS_SETTINGS] = settings
    app.cleanup_ctx.append(_core(clock, mail, master_keys))
    for table in (signup.routes, signin.routes, me.routes, oidc.routes, admin.routes, pages.routes):
        app.router.add_routes(table)
    return app


def master_keys_of(settings: AccountsSettings) -> MasterKeys:
    if settings.key_manager == "aws-kms":
        return AwsKmsKeys(
            settings.kms_key_uri,
            split_uris(settings.kms_previous_key_uris),
            region=settings.kms_region,
            endpoint_url=settings.kms_endpoint_url or None,
        )
    if settings.key_manager == "vault":
        token = settings.vault_token.get_secret_value() if settings.vault_token else ""
        return VaultKeys(
            settings.vault_key_uri,
            split_uris(settings.vault_previous_key_uris),
            address=settings.vault_address,
            token=token,
        )
    return LocalKeyset.open(settings.keyset_file)


def mail_sender_of(settings: AccountsSettings) -> MailSender:
    if settings.mail_sender == "log":
        return LogSender()
    return FileSender(settings.mail_dir, settings.mail_from)


def _core(
    clock: Callable[[], float], mail: MailSender | None, master: MasterKeys | None
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        settings, store = app[ACCOUNTS_SETTINGS], app[STORE]
        keys = master if master is not None else await asyncio.to_thread(master_keys_of, settings)
        envelope = Envelope(keys)
        db = store.db
        prf = await load_blind_index(keys, db["keys"])
        signing = SigningKeys(
            db["keys"],
            envelope,
            rotation_seconds=settings.signing_key_rotation_seconds,
            token_ttl_seconds=settings.access_token_ttl_seconds,
            clock=clock,
        )
        await signing.refresh()
        accounts = Accounts(store, envelope, prf, clock)
        sessions = Sessions(
            store,
            prf,
            refresh_ttl=settings.refresh_token_ttl_seconds,
            session_ttl=settings.session_ttl_seconds,
            clock=clock,
        )
        backoff = Backoff(
            db["signin_failures"],
            free=settings.backoff_free_failures,
            base=settings.backoff_base_seconds,
            cap=settings.backoff_max_seconds,
            clock=clock,
        )
        for indexes in (accounts.indexes(), sessions.indexes(), backoff.indexes()):
            await store.ensure_indexes(indexes)
        hasher = Hasher(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            workers=settings.hash_workers,
        )
        issuer = Issuer(
            signing,
            issuer=settings.issuer,
            audience=settings.audience,
            ttl=settings.access_token_ttl_seconds,
            channels=settings.channels.split(),
            clock=clock,
        )
        events = Events(app[BUS], db["outbox"], clock)
        ctx = Context(
            settings=settings,
            accounts=accounts,
            hasher=hasher,
            backoff=backoff,
            sessions=sessions,
            signing=signing,
            issuer=issuer,
            envelope=envelope,
            prf=prf,
            tenants=Tenants(store, prf, clock),
            events=events,
            mail=mail or mail_sender_of(settings),
            tokens=db["tokens"],
            trusted=parse_networks(settings.trusted_proxies),
            clock=clock,
        )
        app[CONTEXT] = ctx
        rewrapper = Rewrapper(ctx)
        app[REWRAPPER] = rewrapper
        rewrapper.trigger()  # records a retired key still wraps (a restart after rotation)

        async def deleted(account_id: str) -> bool:
            account = await accounts.get(account_id)
            return account is not None and account.status == "deleted"

        tasks = [
            asyncio.create_task(_signing_loop(signing), name="accounts-signing-keys"),
            asyncio.create_task(events.relay_forever(deleted), name="accounts-outbox"),
            asyncio.create_task(rewrapper.run_forever(), name="accounts-rewrap"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            hasher.close()

    return context


async def _signing_loop(signing: SigningKeys) -> None:
    """Pick up other replicas' rotations and rotate when the current key is due."""
    while True:
        await asyncio.sleep(SIGNING_REFRESH_SECONDS)
        try:
            await signing.refresh()
        except Exception:  # the keys in hand keep working; the next round tries again
            log.warning("signing key refresh failed", exc_info=True)
