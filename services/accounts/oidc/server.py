"""Authlib's authorization server on aiohttp and an asynchronous store.

Authlib's grants call their storage hooks synchronously (`query_client`,
`query_authorization_code`, `authenticate_user`, ...). The store is asynchronous, so a handler
first loads everything a request can need (`Loaded`: the client, the authorization code, which
it also claims so it works once, the refresh rotation, the user and their claims), puts it in a
context variable for the request's task, then lets Authlib validate and answer synchronously.
The protocol rules (parameter checks, redirect URI matching, client authentication, PKCE S256,
the ID token) are Authlib's; what is ours is storage and the token contents.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Payload, OAuth2Request, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode

from services.accounts.records.store import Account
from services.accounts.tenants.store import Client
from services.accounts.tokens.issuer import Issuer
from services.accounts.tokens.sessions import Session


@dataclass
class Code:
    """A stored authorization code, as Authlib's AuthorizationCodeMixin sees it."""

    doc: dict[str, Any]

    def get_redirect_uri(self) -> str:
        return str(self.doc["redirect_uri"])

    def get_scope(self) -> str:
        return str(self.doc["scope"])

    def get_nonce(self) -> str | None:
        return self.doc.get("nonce")

    def get_auth_time(self) -> int:
        return int(self.doc["auth_time"])

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str]:
        return list(self.doc.get("amr") or [])

    def is_expired(self) -> bool:
        return False  # checked when it was loaded, against the service's clock

    @property
    def code_challenge(self) -> str | None:
        return self.doc.get("code_challenge")

    @property
    def code_challenge_method(self) -> str | None:
        return self.doc.get("code_challenge_method")


class S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE required for every client, S256 only (`plain` would show the verifier)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": CodeChallenge.CODE_CHALLENGE_METHODS["S256"]}

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        if not grant.request.payload.data.get("code_challenge"):
            raise InvalidRequestError(
                "PKCE is required: send a code_challenge (S256)", redirect_uri=redirect_uri
            )
        super().validate_code_challenge(grant, redirect_uri)


@dataclass
class Refresh:
    """A refresh token already rotated (claimed) when the request was loaded."""

    session: Session
    next_token: str

    def check_client(self, client: Client) -> bool:
        return self.session.client_id == client.client_id

    def get_scope(self) -> str:
        return self.session.scope

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return False


@dataclass
class Loaded:
    client: Client | None = None
    code: Code | None = None
    refresh: Refresh | None = None
    user: Account | None = None
    userinfo: dict[str, Any] = field(default_factory=dict)
    session: Session | None = None  # the session tokens of this request belong to
    new_session: Session | None = None
    first_refresh: str | None = None
    codes: list[tuple[str, OAuth2Request]] = field(default_factory=list)
    tokens: list[dict[str, Any]] = field(default_factory=list)


LOADED: contextvars.ContextVar[Loaded] = contextvars.ContextVar("accounts_oidc_loaded")


class Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, values: dict[str, str]) -> None:
        self._values = values

    @property
    def data(self) -> dict[str, str]:
        return self._values

    @property
    def datalist(self) -> dict[str, list[str]]:
        return {key: [value] for key, value in self._values.items()}


class Request(OAuth2Request):  # type: ignore[misc]
    def __init__(
        self,
        method: str,
        uri: str,
        headers: dict[str, str],
        query: dict[str, str],
        form: dict[str, str],
    ) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self._query, self._form = query, form
        self.payload = Payload({**query, **form})

    @property
    def args(self) -> dict[str, str]:
        return self._query

    @property
    def form(self) -> dict[str, str]:
        return self._form


def userinfo(account: Account, claims: dict[str, Any], scope: str) -> dict[str, Any]:
    """The standard claims this scope releases (Authlib's scope-to-claims mapping)."""
    return dict(UserInfo(sub=account.id, **claims).filter(scope))


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        LOADED.get().codes.append((code, request))

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        loaded = LOADED.get().code
        if loaded is None or loaded.doc["client_id"] != client.client_id:
            return None
        return loaded

    def delete_authorization_code(self, authorization_code: Code) -> None:
        """Nothing to do: the code was claimed (used up) when the request was loaded."""

    def authenticate_user(self, authorization_code: Code) -> Account | None:
        return LOADED.get().user


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Refresh | None:
        return LOADED.get().refresh

    def authenticate_user(self, refresh_token: Refresh) -> Account | None:
        return LOADED.get().user

    def revoke_old_credential(self, refresh_token: Refresh) -> None:
        """Nothing to do: the old token was claimed (used up) when the request was loaded."""


class IdToken(OpenIDCode):  # type: ignore[misc]
    def __init__(self, issuer: Issuer, ttl: int) -> None:
        super().__init__(require_nonce=False)
        self.issuer, self.ttl = issuer, ttl

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False  # codes are single-use, which already rules out a replayed response

    def resolve_client_private_key(self, client: Client) -> Any:
        return self.issuer.keys.current.key

    def get_client_algorithm(self, client: Client) -> str:
        return "ES256"

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "ES256", "kid": self.issuer.keys.current.kid, "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(self.issuer.clock())
        return {
            "iss": self.issuer.issuer,
            "aud": [client.client_id],
            "iat": now,
            "exp": now + self.ttl,
        }

    def generate_user_info(self, user: Account, scope: str) -> dict[str, Any]:
        return userinfo(user, LOADED.get().userinfo, scope)


class Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, issuer: Issuer, scopes: list[str]) -> None:
        super().__init__(scopes_supported=scopes)
        self.issuer = issuer
        self.register_token_generator("default", self._generate)
        self.register_grant(AuthorizationCodeGrant, [S256Only(required=True), IdToken(issuer, 600)])
        self.register_grant(RefreshTokenGrant)

    def query_client(self, client_id: str) -> Client | None:
        client = LOADED.get().client
        return client if client is not None and client.client_id == client_id else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        LOADED.get().tokens.append(token)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal receivers."""

    def _generate(
        self,
        grant_type: str,
        client: Client,
        user: Account | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        loaded = LOADED.get()
        assert user is not None
        session: Session | None = loaded.new_session
        refresh = loaded.first_refresh
        if grant_type == "refresh_token" and loaded.refresh is not None:
            session, refresh = loaded.refresh.session, loaded.refresh.next_token
        assert session is not None
        access, ttl = self.issuer.access_token(
            user.id,
            sid=session.id,
            scope=scope or session.scope,
            roles=user.roles,
            amr=session.amr,
            auth_time=session.auth_time,
            client_id=client.client_id,
        )
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": ttl,
            "scope": scope or session.scope,
        }
        if include_refresh_token and refresh:
            token["refresh_token"] = refresh
        return token
