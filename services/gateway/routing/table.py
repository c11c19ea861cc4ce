"""The declarative route table (YAML), validated as a whole before it replaces the old one.

Matching: the longest `prefix` whose `methods` allow the request wins. A route names an
upstream; upstreams carry the circuit-breaker settings because failures are per upstream.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

# `${WAITINGROOM_PORT:-8083}` in a route file: the stack runner and deployments move services
# ports and hosts. Only address variables, so a table cannot read a secret out of the
# environment.
_ADDRESS_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*_(?:PORT|HOST|URL))(?::-([^}]*))?\}")

# A zone id (as the waiting room accepts it) or the `{zone}` placeholder.
PROTECTED_ZONE = r"^(\{zone\}|[a-z0-9][a-z0-9_-]{0,63})$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthPolicy(StrEnum):
    NONE = "none"
    JWT = "jwt"
    API_KEY = "api_key"
    JWT_OR_API_KEY = "jwt_or_api_key"


class Bucket(Strict):
    """A token bucket: a steady `rate` per second and a `burst` capacity."""

    rate: float = Field(gt=0)
    burst: int = Field(ge=1)
    # Queue instead of reject: wait up to this long for a token before answering 429.
    queue_timeout_seconds: float = Field(default=0.0, ge=0, le=60)


class Timeouts(Strict):
    """`total_seconds` bounds the wait for the response head, then each silence of the body."""

    connect_seconds: float = Field(default=2.0, gt=0)
    total_seconds: float = Field(default=30.0, gt=0)


class Retries(Strict):
    """Retries apply to idempotent methods only, within a budget shared by the upstream."""

    attempts: int = Field(default=2, ge=0, le=10)
    backoff_base_ms: float = Field(default=25.0, ge=0)
    backoff_max_ms: float = Field(default=500.0, ge=0)
    budget_ratio: float = Field(default=0.2, ge=0, le=1)


class CircuitBreaker(Strict):
    consecutive_failures: int = Field(default=5, ge=1)
    error_rate: float = Field(default=0.5, gt=0, le=1)
    min_requests: int = Field(default=20, ge=1)
    window_seconds: float = Field(default=10.0, gt=0)
    open_seconds: float = Field(default=10.0, gt=0)
    half_open_probes: int = Field(default=1, ge=1)


class Upstream(Strict):
    url: HttpUrl
    # The service the gateway signs callers for (`aud` of X-Surge-Identity): the service's
    # name, which is the upstream's name unless given (two upstreams of one service).
    audience: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    max_connections: int = Field(default=100, ge=1)
    circuit_breaker: CircuitBreaker = CircuitBreaker()


class Cors(Strict):
    allow_origins: list[str] = ["*"]
    allow_methods: list[str] = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    allow_headers: list[str] = ["authorization", "content-type", "x-api-key"]
    expose_headers: list[str] = ["ratelimit", "ratelimit-policy", "retry-after", "x-request-id"]
    allow_credentials: bool = False
    max_age_seconds: int = Field(default=600, ge=0)


class RouteWaf(Strict):
    enabled: bool = True
    max_body_bytes: int | None = Field(default=None, ge=0)
    # JSON Schema the request body must satisfy (400 listing failing fields otherwise).
    body_schema: dict[str, Any] | None = None
    # Detection (docs/gateway.md, "WAF"): rules above this paranoia level are not evaluated,
    # and a request is blocked once its anomaly score reaches the threshold (5: one critical
    # match, as the OWASP CRS inbound default).
    paranoia_level: int = Field(default=1, ge=1, le=4)
    anomaly_threshold: int = Field(default=5, ge=1)
    # Detection rule ids that do not apply to this route (checked against the catalogue).
    exclude_rules: list[str] = []
    # Argument names whose values detection does not read (a sign-in form's password).
    exclude_fields: list[str] = []
    # Request media types accepted (protocol-008); None keeps the default list.
    allowed_content_types: list[str] | None = None


class Route(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    prefix: str = Field(pattern=r"^/")
    upstream: str
    methods: list[str] | None = None  # the method allow-list; None allows all
    strip_prefix: bool = False
    websocket: bool = False
    auth: AuthPolicy = AuthPolicy.NONE
    scopes: list[str] = []
    roles: list[str] = []
    rate_limit: Bucket | None = None  # per route, shared by all callers
    ip_rate_limit: Bucket | None = None  # per client IP, anonymous callers
    # A usage plan (rate, burst, quotas) applied per signed-in user (JWT subject) on this route,
    # e.g. avatar uploads per player; API-key callers keep their key's plan.
    user_plan: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")
    timeouts: Timeouts = Timeouts()
    retries: Retries = Retries()
    cors: Cors | None = None
    waf: RouteWaf = RouteWaf()
    # The waiting-room zone whose access token the route requires: a zone id, or `{zone}` for
    # the first path segment after the prefix (`/tickets/` + `{zone}` guards /tickets/<zone>/...).
    protected_zone: str | None = Field(default=None, pattern=PROTECTED_ZONE)

    def allows(self, method: str) -> bool:
        return self.methods is None or method.upper() in self.methods


class RouteTable(Strict):
    upstreams: dict[str, Upstream] = {}
    routes: list[Route] = []
    global_rate_limit: Bucket | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RouteTable:
        ids = [route.id for route in self.routes]
        if len(ids) != len(set(ids)):
            raise ValueError("route ids must be unique")
        for route in self.routes:
            if route.upstream not in self.upstreams:
                raise ValueError(f"route {route.id!r} names unknown upstream {route.upstream!r}")
        return self

    def match(self, path: str, method: str) -> Route | None:
        best: Route | None = None
        for route in self.routes:
            if not (_prefix_matches(route.prefix, path) and route.allows(method)):
                continue
            if best is None or len(route.prefix) > len(best.prefix):
                best = route
        return best

    def match_path(self, path: str) -> Route | None:
        """The longest-prefix route whatever the method (to answer 405 rather than 404)."""
        best: Route | None = None
        for route in self.routes:
            if not _prefix_matches(route.prefix, path):
                continue
            if best is None or len(route.prefix) > len(best.prefix):
                best = route
        return best

    @classmethod
    def from_yaml(cls, text: str) -> RouteTable:
        return cls.model_validate(yaml.safe_load(text) or {})

    @classmethod
    def load(cls, path: Path) -> RouteTable:
        return cls.from_yaml(path.read_text(encoding="utf-8"))


def expand_addresses(text: str) -> str:
    """Replace `${NAME}` / `${NAME:-default}` of address variables (`*_PORT`, `*_HOST`,
    `*_URL`) with their values from the environment."""
    return _ADDRESS_VARIABLE.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), text)


def _prefix_matches(prefix: str, path: str) -> bool:
    if prefix == "/" or path == prefix:
        return True
    base = prefix.rstrip("/")
    return path == base or path.startswith(base + "/")
