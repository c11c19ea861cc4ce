"""The gateway's web application firewall: `Waf.inspect` runs before a request is routed.

Order (cheapest and most decisive first, like an AWS WAF web ACL by priority): IP deny/allow
lists, active blocks, the rate-based rule, size limits, the route's method allow-list, the
detection engine (detect.py) on the request head (blocking at once when its anomaly score
already reaches the route's threshold), then the body (detection, JSON Schema).
Report-only rules are logged and counted with action `count` but never score; rules that
scored without blocking are counted with action `score`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from services.gateway.request import Request
from services.gateway.routing.table import Route, RouteWaf
from services.gateway.waf import builtin
from services.gateway.waf.body import BodyInspector
from services.gateway.waf.clientaddr import client_address
from services.gateway.waf.config import WafSettings, parse_ids
from services.gateway.waf.detect import Detector
from services.gateway.waf.ipsets import Access, IpAccess, parse_ip
from services.gateway.waf.journal import Journal
from services.gateway.waf.limits import (
    BodyTooLargeError,
    Limits,
    header_bytes,
    iter_bounded,
    url_bytes,
)
from services.gateway.waf.planeview import request_view
from services.gateway.waf.policy import DEFAULT_CONTENT_TYPES, DEFAULT_POLICY, Policy
from services.gateway.waf.ratebased import Block, Clock, RateBasedRule
from services.gateway.waf.signatures import RULES_BY_ID
from services.gateway.waf.summaries import rule_summaries
from services.gateway.waf.verdict import Hit, Verdict
from services.gateway.waf.view import RequestView

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_SCREENED_ENTRIES = 4096
_POLICIES = 1024
# Head verdicts remembered: at most this many heads of at most this many bytes each.
_MEMO_HEADS = 4096
_MEMO_HEAD_BYTES = 4096


class Waf:
    def __init__(
        self,
        settings: WafSettings,
        *,
        clock: Clock = time.monotonic,
        registry: CollectorRegistry | None = None,
    ) -> None:
        switchable = {*RULES_BY_ID, builtin.RATE_BASED}
        self.disabled = parse_ids(
            settings.waf_disabled_rules, switchable, "GATEWAY_WAF_DISABLED_RULES"
        )
        self.report_only = parse_ids(
            settings.waf_report_only_rules, switchable, "GATEWAY_WAF_REPORT_ONLY_RULES"
        )
        self.detector = Detector(disabled=self.disabled, report_only=self.report_only)
        self._policies: dict[int, tuple[RouteWaf, Policy, int]] = {}
        self._tokens: dict[Policy, int] = {}
        self._token_numbers = itertools.count(1)
        self._heads: dict[tuple[object, ...], Verdict] = {}
        self.ip_access = IpAccess.from_settings(settings.waf_allow_cidrs, settings.waf_deny_cidrs)
        self._screened: dict[str, tuple[Access, str]] = {}
        self._screened_by = self.ip_access
        self._rate_off = builtin.RATE_BASED in self.disabled
        self.rate = RateBasedRule(
            limit=settings.waf_rate_limit,
            window_seconds=settings.waf_rate_window_seconds,
            block_seconds=settings.waf_rate_block_seconds,
            max_tracked=settings.waf_rate_max_tracked_ips,
            clock=clock,
        )
        self.limits = Limits(
            max_url_bytes=settings.waf_max_url_bytes,
            max_header_bytes=settings.waf_max_header_bytes,
            max_headers=settings.waf_max_headers,
            max_body_bytes=settings.waf_max_body_bytes,
        )
        self.body = BodyInspector(
            inspect_bytes=settings.waf_body_inspect_bytes, oversize=settings.waf_body_oversize
        )
        self.journal = Journal(registry if registry is not None else CollectorRegistry())
        self.journal.track_blocks(lambda: sum(1 for _ in self.rate.active_blocks()))

    def body_limit(self, route: Route | None) -> int:
        if route is not None and route.waf.max_body_bytes is not None:
            return route.waf.max_body_bytes
        return self.limits.max_body_bytes

    async def inspect(self, request: Request, route: Route | None) -> bytes | None:
        """Raise a problem (400/403/405/413/414/415/431) or let the request on.

        Returns the body when it had to be read whole (inspection, schema validation); None
        means the proxy streams it with `stream_body`, which replays any prefix read here.
        """
        if not self.needs_body(request, route):
            self.check(request, route)
            return None
        assert route is not None
        address = client_address(request)
        view, head = self._screen_head(request, address, route)
        return await self._inspect_body(request, address, route, view, head)

    def needs_body(self, request: Request, route: Route | None) -> bool:
        """Whether `inspect` reads the body (else `check` is the whole inspection)."""
        return route is not None and (request.body_exists or _needs_body(route, request.method))

    def check(self, request: Request, route: Route | None) -> None:
        """`inspect` for a request whose body is not read (see `needs_body`): it never waits.

        The same checks as `_screen_head`, written out for the common case (the hot path of
        every bodiless request: an address already screened and allowed, within the sizes,
        a method the route allows, a head whose verdict is remembered)."""
        address = request.client.address
        screened = self._screened.get(address) if self._screened_by is self.ip_access else None
        if (
            screened is not None
            and screened[0] is Access.ALLOWED
            and self.rate.blocked(screened[1]) is None
        ):
            if not self._rate_off and self.rate.hit(screened[1]):
                self._rate_exceeded(request, address, screened[1])
        else:
            self._check_address(request, address)
        limits = self.limits
        head_bytes = request.head_bytes
        path = request.raw_path
        if (
            head_bytes is None
            or head_bytes > limits.max_header_bytes
            or len(request.raw_headers) > limits.max_headers
            or not path.isascii()
            or len(path) > limits.max_url_bytes
            or request.content_length is not None
        ):
            head_bytes = self._check_sizes(request, address, route)
        method = request.method
        if route is not None:
            methods = route.methods
            if methods is not None and method not in methods:
                self._check_method(request, address, route)
            waf = route.waf
            if not waf.enabled:
                return
            cached = self._policies.get(id(waf))
            token = cached[2] if cached is not None and cached[0] is waf else 0
        else:
            token = 0
        head = None
        if token and head_bytes + len(request.target) <= _MEMO_HEAD_BYTES:
            key = (token, method, request.version, request.target, *request.raw_headers)
            head = self._heads.get(key)
        if head is None:
            _, head = self._head(request, route, head_bytes, view=False)
        if head.score >= head.threshold:
            raise self._block(request, address, head)
        if head.hits:
            self._record_hits(request, address, head)

    def _screen_head(
        self, request: Request, address: str, route: Route | None
    ) -> tuple[RequestView | None, Verdict | None]:
        """Every check before the body: address, sizes, method, detection on the head (raises
        the problem to answer)."""
        self._check_address(request, address)
        head_bytes = self._check_sizes(request, address, route)
        if route is not None:
            self._check_method(request, address, route)
        if route is not None and not route.waf.enabled:
            return None, None
        view, head = self._head(request, route, head_bytes, view=self.needs_body(request, route))
        if head.blocked:
            raise self._block(request, address, head)
        return view, head

    def _head(
        self, request: Request, route: Route | None, head_bytes: int, *, view: bool
    ) -> tuple[RequestView | None, Verdict]:
        """The detection verdict on the request head. It depends on nothing but the policy,
        the method, version, target and header lines, so a head seen before (a client polling
        the same URL with the same headers) is answered from memory (bounded: `_MEMO_HEADS`
        heads of at most `_MEMO_HEAD_BYTES`); the view is only built when the head is new or
        the body will be inspected with it."""
        policy, token = self._policy(route)
        key = None
        if head_bytes + len(request.target) <= _MEMO_HEAD_BYTES:
            key = (token, request.method, request.version, request.target, *request.raw_headers)
            known = self._heads.get(key)
            if known is not None:
                return (request_view(request) if view else None), known
        built = request_view(request)
        verdict = self.detector.head(built, policy)
        if key is not None:
            heads = self._heads
            if len(heads) >= _MEMO_HEADS:
                del heads[next(iter(heads))]
            heads[key] = verdict
        return built, verdict

    def policy(self, route: Route | None) -> Policy:
        """The detection settings of `route` (remembered per route object: tables reload)."""
        return self._policy(route)[0]

    def _policy(self, route: Route | None) -> tuple[Policy, int]:
        """The route's policy and a small number standing for it in the head memo's keys."""
        if route is None:
            return DEFAULT_POLICY, self._token(DEFAULT_POLICY)
        waf = route.waf
        cached = self._policies.get(id(waf))
        if cached is None or cached[0] is not waf:
            if len(self._policies) >= _POLICIES:
                self._policies.clear()
            content_types = waf.allowed_content_types
            policy = Policy(
                paranoia_level=waf.paranoia_level,
                anomaly_threshold=waf.anomaly_threshold,
                excluded_rules=frozenset(waf.exclude_rules),
                excluded_fields=frozenset(name.lower() for name in waf.exclude_fields),
                content_types=(
                    frozenset(t.lower() for t in content_types)
                    if content_types is not None
                    else DEFAULT_CONTENT_TYPES
                ),
            )
            cached = self._policies[id(waf)] = (waf, policy, self._token(policy))
        return cached[1], cached[2]

    def _token(self, policy: Policy) -> int:
        token = self._tokens.get(policy)
        if token is None:
            if len(self._tokens) >= _POLICIES:  # (a policy per route: only tables that churn)
                self._tokens.clear()
                self._heads.clear()
            token = self._tokens[policy] = next(self._token_numbers)  # never one reused
        return token

    async def stream_body(self, request: Request, route: Route | None) -> AsyncIterator[bytes]:
        """The body for the proxy, bounded by the route's limit (raises a 413 problem past it)."""
        limit = self.body_limit(route)
        prefix = request.body_prefix
        if prefix:
            yield prefix
        try:
            async for chunk in iter_bounded(request, limit - len(prefix)):
                yield chunk
        except BodyTooLargeError:
            problem = self._body_too_large(request, client_address(request), limit)
            request.body_rejection = problem
            raise problem from None

    # --- operator controls (admin API) -----------------------------------------------------

    def blocks(self) -> list[Block]:
        return list(self.rate.active_blocks())

    def block_address(self, address: str, seconds: float, reason: str) -> Block:
        return self.rate.block(_key(address), seconds, reason)

    def unblock_address(self, address: str) -> bool:
        return self.rate.unblock(_key(address))

    def rule_summaries(self) -> list[dict[str, Any]]:
        return rule_summaries(self._mode, self.journal.hits)

    def _mode(self, rule_id: str) -> str:
        if rule_id in self.disabled:
            return "disabled"
        return "count" if rule_id in self.report_only else "block"

    # --- checks ------------------------------------------------------------------------------

    def _screen(self, address: str) -> tuple[Access, str]:
        """The IP lists' verdict on `address` and its rate key, remembered per address text:
        parsing an address costs more than the rest of the check, and clients come back."""
        if self._screened_by is not self.ip_access:  # the lists were replaced: start afresh
            self._screened.clear()
            self._screened_by = self.ip_access
        screened = self._screened.get(address)
        if screened is None:
            parsed = parse_ip(address)
            key = str(parsed) if parsed is not None else address
            screened = (self.ip_access.check(parsed), key)
            if len(self._screened) >= _SCREENED_ENTRIES:
                del self._screened[next(iter(self._screened))]
            self._screened[address] = screened
        return screened

    def _check_address(self, request: Request, address: str) -> None:
        access, key = self._screen(address)
        if access is Access.DENIED:
            raise self._reject(request, address, builtin.IP_DENY, "client-ip", 403)
        if access is Access.NOT_ALLOWED:
            raise self._reject(request, address, builtin.IP_ALLOW, "client-ip", 403)
        if (block := self.rate.blocked(key)) is not None:
            # An address that keeps knocking during a flood: counted, logged at debug only.
            retry = {"Retry-After": str(max(1, round(self.rate.remaining(block))))}
            detail = f"client address is blocked: {block.reason}"
            rule = builtin.RATE_BASED
            raise self._reject(request, address, rule, "client-ip", 403, detail, retry, quiet=True)
        if not self._rate_off and self.rate.hit(key):
            self._rate_exceeded(request, address, key)

    def _rate_exceeded(self, request: Request, address: str, key: str) -> None:
        """The rate-based rule found the address over its limit: report or block."""
        if builtin.RATE_BASED in self.report_only:
            self.journal.record(request, address, builtin.RATE_BASED, "client-ip", "count")
            return
        block = self.rate.block(key)
        retry = {"Retry-After": str(max(1, round(self.rate.block_seconds)))}
        detail = f"client address blocked for {self.rate.block_seconds:g} s: {block.reason}"
        raise self._reject(request, address, builtin.RATE_BASED, "client-ip", 403, detail, retry)

    def _check_method(self, request: Request, address: str, route: Route) -> None:
        """405 for a method the route does not allow (a CORS preflight aside: the gateway
        answers it)."""
        if not route.allows(request.method) and not _is_preflight(request):
            detail = f"{request.method} is not allowed on this route"
            allow = {"Allow": allowed_methods_header(route)}
            raise self._reject(request, address, builtin.METHOD, "method", 405, detail, allow)

    def _check_sizes(self, request: Request, address: str, route: Route | None) -> int:
        """Raise past a size limit; returns the header block's size."""
        limits = self.limits
        if url_bytes(request) > limits.max_url_bytes:
            detail = f"the URL is longer than {limits.max_url_bytes} bytes"
            raise self._reject(request, address, builtin.SIZE_URL, "url", 414, detail)
        head_bytes = header_bytes(request)
        if len(request.raw_headers) > limits.max_headers or head_bytes > limits.max_header_bytes:
            detail = (
                f"the request headers exceed {limits.max_header_bytes} bytes "
                f"or {limits.max_headers} fields"
            )
            raise self._reject(request, address, builtin.SIZE_HEADERS, "headers", 431, detail)
        declared = request.content_length
        if declared is not None and declared > self.body_limit(route):
            raise self._body_too_large(request, address, self.body_limit(route))
        return head_bytes

    async def _inspect_body(
        self,
        request: Request,
        address: str,
        route: Route,
        view: RequestView | None,
        head: Verdict | None,
    ) -> bytes | None:
        limit = self.body_limit(route)
        signatures = view is not None
        try:
            outcome = await self.body.inspect(request, route, limit, signatures=signatures)
        except BodyTooLargeError:
            raise self._body_too_large(request, address, limit) from None
        if (refusal := outcome.rejection) is not None:
            raise self._reject(
                request, address, refusal.rule_id, "body", refusal.status, refusal.detail
            )
        if view is not None and head is not None:
            verdict = head
            if outcome.inspected is not None:
                with_body = replace(view, body=outcome.inspected)
                verdict = self.detector.body(with_body, self.policy(route), head)
            if verdict.blocked:
                raise self._block(request, address, verdict)
            self._record_hits(request, address, verdict)
        if errors := outcome.schema_errors:
            summary = "; ".join(f"{e['field'] or '(body)'} {e['message']}" for e in errors[:3])
            detail = f"the request body does not match the route's schema: {summary}"
            extra = {"errors": errors}
            rule = builtin.BODY_SCHEMA
            raise self._reject(request, address, rule, "body", 400, detail, extra=extra)
        if outcome.body is None:
            request.body_prefix = outcome.prefix
        return outcome.body

    def _block(self, request: Request, address: str, verdict: Verdict) -> web.HTTPException:
        """The 403 for a verdict over its threshold, naming its strongest rule."""
        decisive = verdict.decisive
        assert decisive is not None  # a blocking verdict has scored
        self._record_hits(request, address, verdict, skip=decisive)
        rule = decisive.rule
        detail = f"request blocked by WAF rule {rule.id}: {rule.description}"
        extra = {
            "anomaly_score": verdict.score,
            "matched_rules": [hit.rule.id for hit in verdict.hits if not hit.report_only],
        }
        return self._reject(request, address, rule.id, decisive.location, 403, detail, extra=extra)

    def _record_hits(
        self, request: Request, address: str, verdict: Verdict, skip: Hit | None = None
    ) -> None:
        """Report-only hits are logged (`count`); hits that only scored are counted quietly."""
        for hit in verdict.hits:
            if hit is skip:
                continue
            action = "count" if hit.report_only else "score"
            self.journal.record(
                request, address, hit.rule.id, hit.location, action, quiet=not hit.report_only
            )

    def _body_too_large(self, request: Request, address: str, limit: int) -> web.HTTPException:
        detail = f"the request body is larger than {limit} bytes"
        return self._reject(request, address, builtin.SIZE_BODY, "body", 413, detail)

    def _reject(
        self,
        request: Request,
        address: str,
        rule_id: str,
        target: str,
        status: int,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        *,
        extra: dict[str, Any] | None = None,
        quiet: bool = False,
    ) -> web.HTTPException:
        self.journal.record(request, address, rule_id, target, "block", quiet=quiet)
        return builtin.problem(status, rule_id, detail, headers=headers, extra=extra)


def _key(address: str) -> str:
    """One key per client whatever the spelling (::ffff:192.0.2.1 is 192.0.2.1)."""
    parsed = parse_ip(address)
    return str(parsed) if parsed is not None else address


def _is_preflight(request: Request) -> bool:
    """A CORS preflight: the method allow-list does not apply to it (the gateway answers it)."""
    index = request.index
    return (
        request.method == "OPTIONS"
        and b"origin" in index
        and b"access-control-request-method" in index
    )


def _needs_body(route: Route, method: str) -> bool:
    return route.waf.body_schema is not None and method in _BODY_METHODS


def allowed_methods_header(route: Route) -> str:
    """The `Allow` header value for a 405 on `route` (OPTIONS too when the gateway does CORS)."""
    methods = list(route.methods or [])
    if route.cors is not None and "OPTIONS" not in methods:
        methods.append("OPTIONS")
    return ", ".join(methods)
