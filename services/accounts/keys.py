"""The context every accounts handler shares, under one typed key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from services.accounts.credentials.backoff import Backoff
from services.accounts.credentials.hashing import Hasher
from services.accounts.crypto.blindindex import BlindIndex
from services.accounts.crypto.envelope import Envelope
from services.accounts.crypto.rotation import Rewrapper
from services.accounts.events import Events
from services.accounts.mail import MailSender
from services.accounts.records.store import Accounts
from services.accounts.settings import AccountsSettings
from services.accounts.tenants.store import Tenants
from services.accounts.tokens.issuer import Issuer
from services.accounts.tokens.sessions import Sessions
from services.accounts.tokens.signing import SigningKeys
from shared.security.networks import Network
from shared.storeops import Collection

PROBLEMS = "https://surge.dev/problems/accounts-"


@dataclass
class Context:
    settings: AccountsSettings
    accounts: Accounts
    hasher: Hasher
    backoff: Backoff
    sessions: Sessions
    signing: SigningKeys
    issuer: Issuer
    envelope: Envelope
    prf: BlindIndex
    tenants: Tenants
    events: Events
    mail: MailSender
    tokens: Collection  # single-use tokens: email verification, authorization codes
    trusted: tuple[Network, ...]
    clock: Callable[[], float]
    extras: dict[str, object] = field(default_factory=dict)


ACCOUNTS_SETTINGS = web.AppKey("accounts_settings", AccountsSettings)
CONTEXT = web.AppKey("accounts_context", Context)
REWRAPPER = web.AppKey("accounts_rewrapper", Rewrapper)
