"""The detection engine: a request view in, a verdict with an anomaly score out.

Pure and framework-free: `Detector.inspect(view, policy)` is all a data plane calls (or
`head` before reading the body, then `body` to add it). Each inspected value is matched by
the one Hyperscan database (matcher.py); each rule counts once per request, at its first
location, with its severity's points unless it is report-only. Matches on short values are
remembered (user agents, cookies and common arguments repeat), so most values of real traffic
cost one dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.gateway.waf.fields import Field, body_fields, field_name, head_fields
from services.gateway.waf.matcher import Matcher
from services.gateway.waf.policy import DEFAULT_POLICY, Policy
from services.gateway.waf.signatures import CHECKS, RULES, SIGNATURES
from services.gateway.waf.signatures.rule import Check, Place, Rule
from services.gateway.waf.verdict import Hit, Verdict
from services.gateway.waf.view import RequestView

_CACHEABLE_CHARS = 256
_CACHE_ENTRIES = 16384
_ORDER = {rule.id: index for index, rule in enumerate(RULES)}
_MAX_LOCATION_CHARS = 128


def _printable(label: str) -> str:
    """A location fit for a log line: labels carry argument, cookie and key names, which are
    the client's own text (a line break there would forge a log line)."""
    label = label[:_MAX_LOCATION_CHARS]
    return label if label.isprintable() else "".join(c if c.isprintable() else "?" for c in label)


class Detector:
    def __init__(
        self,
        *,
        disabled: Iterable[str] = (),
        report_only: Iterable[str] = (),
    ) -> None:
        self.disabled = frozenset(disabled)
        self.report_only = frozenset(report_only)
        self.matcher = Matcher(SIGNATURES)
        self._rules = [s.rule for s in SIGNATURES]
        self._places = [s.places for s in SIGNATURES]
        self._matches: dict[str, frozenset[int]] = {}
        self._checks: dict[tuple[Policy, bool], list[Check]] = {}

    def inspect(self, view: RequestView, policy: Policy = DEFAULT_POLICY) -> Verdict:
        return self.body(view, policy, self.head(view, policy))

    def head(self, view: RequestView, policy: Policy = DEFAULT_POLICY) -> Verdict:
        """The verdict on everything but the body."""
        hits: dict[str, Hit] = {}
        self._run_checks(self._active_checks(policy, body=False), view, policy, hits)
        self._match(head_fields(view), policy, hits)
        return self._verdict(hits, policy)

    def body(self, view: RequestView, policy: Policy, head: Verdict) -> Verdict:
        """`head` with the body's hits added (nothing to add when `view.body` is None)."""
        if view.body is None:
            return head
        hits = {hit.rule.id: hit for hit in head.hits}
        self._run_checks(self._active_checks(policy, body=True), view, policy, hits)
        self._match(body_fields(view), policy, hits)
        return self._verdict(hits, policy)

    def _match(self, fields: Iterable[Field], policy: Policy, hits: dict[str, Hit]) -> None:
        level = policy.paranoia_level
        remembered = self._matches
        excluded = policy.excluded_fields
        for place, label, value in fields:
            if excluded and place is Place.ARG and field_name(label) in excluded:
                continue
            found = remembered.get(value)  # the hot path: a value seen before, usually clean
            if found is None:
                found = self._matched(value)
            for index in found:
                rule = self._rules[index]
                if (
                    rule.paranoia_level <= level
                    and place in self._places[index]
                    and rule.id not in hits
                    and self._applies(rule, policy)
                ):
                    hits[rule.id] = Hit(rule, _printable(label), rule.id in self.report_only)

    def _matched(self, value: str) -> frozenset[int]:
        if not value:
            return frozenset()
        found = self.matcher.match(value)
        if len(value) <= _CACHEABLE_CHARS:
            self._matches[value] = found
            if len(self._matches) > _CACHE_ENTRIES:
                del self._matches[next(iter(self._matches))]
        return found

    def _active_checks(self, policy: Policy, *, body: bool) -> list[Check]:
        """The checks that apply under `policy` (remembered: a few policies serve every route)."""
        checks = self._checks.get((policy, body))
        if checks is None:
            checks = self._checks[policy, body] = [
                check
                for check in CHECKS
                if check.body is body
                and check.rule.paranoia_level <= policy.paranoia_level
                and self._applies(check.rule, policy)
            ]
        return checks

    def _run_checks(
        self, checks: list[Check], view: RequestView, policy: Policy, hits: dict[str, Hit]
    ) -> None:
        for check in checks:
            location = check.test(view, policy)
            if location is not None:
                rule = check.rule
                hits[rule.id] = Hit(rule, location, rule.id in self.report_only)

    def _applies(self, rule: Rule, policy: Policy) -> bool:
        return rule.id not in self.disabled and rule.id not in policy.excluded_rules

    @staticmethod
    def _verdict(hits: dict[str, Hit], policy: Policy) -> Verdict:
        ordered = sorted(hits.values(), key=lambda hit: (-hit.score, _ORDER[hit.rule.id]))
        score = sum(hit.score for hit in ordered)
        return Verdict(tuple(ordered), score, policy.anomaly_threshold)
