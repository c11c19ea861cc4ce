"""Tenants and their applications.

A tenant (`tenants/<id>`) is a company whose users the platform signs in; the scopes it was
granted bound what its applications may ask for (`openid profile email phone address`). An
application (`clients/<client_id>`) is an OAuth 2.0 / OpenID Connect client: public (a browser
or mobile app: PKCE, no secret) or confidential (a server: a secret, stored as a keyed hash and
shown once).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.accounts.crypto.blindindex import BlindIndex
from shared.store import Store

SCOPES = ("openid", "profile", "email", "phone", "address", "offline_access")
ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"


class TenantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN, description="Short id: lower case, digits, dashes")
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(default=list(SCOPES), description="Scopes its apps may ask for")

    @field_validator("scopes")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(SCOPES))
        if unknown:
            raise ValueError(f"unknown scopes: {', '.join(unknown)}")
        return sorted(set(value))


class ApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    redirect_uris: list[str] = Field(min_length=1, max_length=20)
    public: bool = Field(default=True, description="A browser or mobile app: PKCE, no secret")
    scopes: list[str] | None = Field(default=None, description="Default: the tenant's scopes")

    @field_validator("redirect_uris")
    @classmethod
    def _absolute(cls, value: list[str]) -> list[str]:
        for uri in value:
            parts = urlsplit(uri)
            if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
                raise ValueError(f"{uri!r}: an absolute http(s) URI without fragment")
            if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
                raise ValueError(f"{uri!r}: plain http only for loopback addresses")
        return value


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    tenant: str
    name: str
    redirect_uris: list[str]
    public: bool
    scopes: list[str]
    secret_hash: str | None = None
    prf: BlindIndex | None = field(default=None, repr=False)
    client_metadata: dict[str, Any] = field(default_factory=dict)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        asked = scope.split() if scope else []
        return " ".join(s for s in asked if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_hash is None or self.prf is None:
            return False
        return hmac.compare_digest(self.secret_hash, secret_hash(self.prf, client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint != "token":
            return True
        allowed = ("none",) if self.public else ("client_secret_basic", "client_secret_post")
        return method in allowed

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")

    def view(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "tenant": self.tenant,
            "name": self.name,
            "redirect_uris": self.redirect_uris,
            "public": self.public,
            "scopes": self.scopes,
        }


def secret_hash(prf: BlindIndex, secret: str) -> str:
    return prf.of("client-secret", secret)


class Tenants:
    def __init__(self, store: Store, prf: BlindIndex, clock: Callable[[], float] = time.time):
        self.tenants = store.db["tenants"]
        self.clients = store.db["clients"]
        self.prf = prf
        self.clock = clock

    async def create(self, tenant: TenantIn) -> bool:
        from shared.storeops import claim

        doc = {"name": tenant.name, "scopes": tenant.scopes, "created_at": self.clock()}
        return await claim(self.tenants, tenant.id, doc)

    async def get(self, tenant_id: str) -> dict[str, Any] | None:
        return await self.tenants.find_one({"_id": tenant_id})

    async def listing(self) -> list[dict[str, Any]]:
        return [
            {"id": d["_id"], "name": d["name"], "scopes": d["scopes"]}
            async for d in self.tenants.find({}).sort("_id", 1)
        ]

    async def add_application(
        self, tenant: dict[str, Any], app: ApplicationIn
    ) -> tuple[Client, str | None]:
        """The new client and, for a confidential one, its secret (shown only now)."""
        scopes = sorted(set(app.scopes or tenant["scopes"]) & set(tenant["scopes"]))
        client_id = f"{tenant['_id']}-{secrets.token_hex(6)}"
        secret = None if app.public else secrets.token_urlsafe(32)
        doc = {
            "_id": client_id,
            "tenant": tenant["_id"],
            "name": app.name,
            "redirect_uris": app.redirect_uris,
            "public": app.public,
            "scopes": scopes,
            "secret_hash": secret_hash(self.prf, secret) if secret else None,
            "created_at": self.clock(),
        }
        await self.clients.insert_one(doc)
        return self._client(doc), secret

    async def client(self, client_id: str | None) -> Client | None:
        if not client_id or len(client_id) > 100:
            return None
        doc = await self.clients.find_one({"_id": client_id})
        return self._client(doc) if doc else None

    async def applications(self, tenant_id: str) -> list[Client]:
        return [self._client(d) async for d in self.clients.find({"tenant": tenant_id})]

    def _client(self, doc: dict[str, Any]) -> Client:
        return Client(
            client_id=doc["_id"],
            tenant=doc["tenant"],
            name=doc["name"],
            redirect_uris=list(doc["redirect_uris"]),
            public=bool(doc["public"]),
            scopes=list(doc["scopes"]),
            secret_hash=doc.get("secret_hash"),
            prf=self.prf,
        )
