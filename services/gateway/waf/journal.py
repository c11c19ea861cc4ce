"""Every WAF decision is counted (Prometheus, by rule id and action) and logged on one line.

The log line names the rule, client address, target, method and path; never a body or a
header value, which may hold the very payload or a credential.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client import Counter as PromCounter

from services.gateway.request import Request

logger = logging.getLogger("surge.gateway.waf")

_MAX_LOGGED_PATH = 256


class Journal:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.hits: Counter[str] = Counter()
        self._matches = PromCounter(
            "gateway_waf_matches",
            "Requests matched by a WAF rule, by rule id and action (block or count).",
            ["rule_id", "action"],
            registry=registry,
        )
        self._blocked = Gauge(
            "gateway_waf_blocked_addresses",
            "Client addresses currently blocked (rate-based rule or operator).",
            registry=registry,
        )

    def track_blocks(self, count: Callable[[], float]) -> None:
        self._blocked.set_function(count)

    def record(
        self,
        request: Request,
        address: str,
        rule_id: str,
        target: str,
        action: str,
        *,
        quiet: bool = False,
    ) -> None:
        self.hits[rule_id] += 1
        self._matches.labels(rule_id=rule_id, action=action).inc()
        path = request.path[:_MAX_LOGGED_PATH]
        logger.log(
            logging.DEBUG if quiet else logging.WARNING,
            "waf %s rule=%s ip=%s target=%s method=%s path=%s",
            action,
            rule_id,
            address,
            target,
            request.method,
            path,
            extra={
                "waf_action": action,
                "rule_id": rule_id,
                "client_ip": address,
                "target": target,
                "method": request.method,
                "path": path,
            },
        )

    def record_refusal(self, address: str, rule_id: str, status: int) -> None:
        """A request refused while it was framed (414/431 past the limit): no request view."""
        self.hits[rule_id] += 1
        self._matches.labels(rule_id=rule_id, action="block").inc()
        logger.warning(
            "waf block rule=%s ip=%s status=%d (refused while reading the request)",
            rule_id,
            address,
            status,
            extra={"waf_action": "block", "rule_id": rule_id, "client_ip": address},
        )
