"""What the detection engine concludes about a request: the rules that matched, and where."""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway.waf.policy import DEFAULT_POLICY
from services.gateway.waf.signatures.rule import Rule


@dataclass(frozen=True, slots=True)
class Hit:
    rule: Rule
    location: str  # "query:q", "header:user-agent", "cookie:sid", "body:json:a.b", ...
    report_only: bool = False  # logged and counted, never scored

    @property
    def score(self) -> int:
        return 0 if self.report_only else int(self.rule.severity)


@dataclass(frozen=True, slots=True)
class Verdict:
    hits: tuple[Hit, ...]  # strongest first; each rule at most once (its first location)
    score: int  # the inbound anomaly score: the severities of the scored hits
    threshold: int

    @property
    def blocked(self) -> bool:
        return self.score >= self.threshold

    @property
    def decisive(self) -> Hit | None:
        """The strongest scored hit, which a block names."""
        return next((hit for hit in self.hits if not hit.report_only), None)


CLEAN = Verdict((), 0, DEFAULT_POLICY.anomaly_threshold)
