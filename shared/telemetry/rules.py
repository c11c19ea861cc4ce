"""Sampling rules like X-Ray's, from a JSON file that is reloaded while the process runs.

    {"rules": [
      {"rule_name": "joins", "priority": 10, "service_name": "gateway", "http_method": "POST",
       "url_path": "/waitingroom/zones/*/join", "reservoir_size": 1, "fixed_rate": 0.0},
      {"rule_name": "Default", "reservoir_size": 1, "fixed_rate": 0.05}
    ]}

`OTEL_SAMPLING_RULES_FILE` names the file. A trace that starts in this process (no parent)
is decided by the first rule that matches it, by `priority` (lower first; `Default` last, and
1 per second and 5 % when the file has none): the rule's reservoir takes the first
`reservoir_size` traces of each second in this process, then `fixed_rate` of the rest by
trace id. `service_name`, `http_method` and `url_path` are patterns (`*` any characters, `/`
included, `?` exactly one; absent = `*`) matched against this process's service and the root
span's `http.request.method` and `url.path`. A root span with a sampled link (a controller
tick's decision, linked to the joins it admits) is recorded without using a reservoir: it
belongs to traces already kept; any other decision (`surge.sampling.no_reservoir`) is left to
the rule's fixed rate, so ticks never take a request's place in the reservoir. Spans with a
parent follow the parent (`ParentBased`), so the
decision taken where a trace starts travels downstream.

The file is checked for changes at most once a second on the sampling path and applied within
5 s; a file that does not parse or validate keeps the previous rules, and says why in the log.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes
from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)
DEFAULT_NAME = "Default"
CHECK_EVERY_SECONDS = 1.0
# A root that must not take a reservoir's trace (a controller tick's decision): rate only.
NO_RESERVOIR = "surge.sampling.no_reservoir"
_MISSING = (-1, -1)


class RuleSpec(BaseModel):
    """One rule as the file holds it (X-Ray's rule fields, snake_case)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule_name: str = Field(min_length=1, max_length=64)
    priority: int = Field(default=1000, ge=1, le=9999)
    service_name: str = "*"
    http_method: str = "*"
    url_path: str = "*"
    reservoir_size: int = Field(ge=0, le=100_000)
    fixed_rate: float = Field(ge=0.0, le=1.0)
    description: str = ""


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    rules: list[RuleSpec] = Field(max_length=1000)


DEFAULT_RULE = RuleSpec(rule_name=DEFAULT_NAME, priority=9999, reservoir_size=1, fixed_rate=0.05)


def pattern(glob: str) -> re.Pattern[str]:
    """X-Ray's wildcards: `*` any characters (`/` too), `?` exactly one; the rest literal."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob]
    return re.compile("".join(parts), re.DOTALL)


@dataclass
class Rule:
    """A rule ready to match, with its own reservoir (per second, per process)."""

    spec: RuleSpec
    method: re.Pattern[str]
    path: re.Pattern[str]
    ratio: TraceIdRatioBased
    second: int = -1
    taken: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, spec: RuleSpec) -> Rule:
        return cls(spec, pattern(spec.http_method), pattern(spec.url_path),
                   TraceIdRatioBased(spec.fixed_rate))  # fmt: skip

    def matches(self, method: str, path: str) -> bool:
        return bool(self.method.fullmatch(method) and self.path.fullmatch(path))

    def borrow(self, now: float) -> bool:
        """One of the reservoir's traces for this second, while any is left."""
        second = int(now)
        with self.lock:
            if second != self.second:
                self.second, self.taken = second, 0
            if self.taken < self.spec.reservoir_size:
                self.taken += 1
                return True
        return False


def parse_rules(text: str, service: str) -> list[Rule]:
    """The rules of a file's text that apply to `service`, in the order they are tried;
    ValueError (with the reason) when the text is not a valid rules file."""
    try:
        loaded = RulesFile.model_validate(json.loads(text))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ValueError(str(exc).splitlines()[0] if isinstance(exc, json.JSONDecodeError)
                         else _summary(exc)) from None  # fmt: skip
    names = [spec.rule_name for spec in loaded.rules]
    if len(set(names)) != len(names):
        raise ValueError("rule names must be unique")
    specs = [spec for spec in loaded.rules if pattern(spec.service_name).fullmatch(service)]
    default = next((s for s in specs if s.rule_name == DEFAULT_NAME), DEFAULT_RULE)
    ordered = sorted(
        (s for s in specs if s.rule_name != DEFAULT_NAME), key=lambda s: (s.priority, s.rule_name)
    )
    return [Rule.of(spec) for spec in [*ordered, default]]


def _summary(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" + (f" ({exc.error_count()} errors)" if exc.error_count() > 1
                                         else "")  # fmt: skip


class RulesSampler(Sampler):
    """Root spans only (wrap it in `ParentBased`, as `rules_sampler` does)."""

    def __init__(
        self,
        path: Path,
        service: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        check_every: float = CHECK_EVERY_SECONDS,
    ) -> None:
        self.path, self.service = path, service
        self._clock, self._check_every = clock, check_every
        self.rules: list[Rule] = [Rule.of(DEFAULT_RULE)]
        self._stamp: tuple[int, int] | None = None  # (mtime_ns, size) of the file in force
        self._reload_lock = threading.Lock()
        self.reload()
        self._next_check = clock() + check_every

    def reload(self) -> bool:
        """Read the file if it changed; True when new rules are in force."""
        try:
            stat = os.stat(self.path)
        except OSError as exc:
            if self._stamp != _MISSING:  # said once, until the file is back
                self._stamp = _MISSING
                log.warning("sampling rules file unreadable, keeping the rules in force: %s", exc)
            return False
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            rules = parse_rules(self.path.read_text(encoding="utf-8"), self.service)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            log.warning("invalid sampling rules in %s, keeping the rules in force: %s",
                        self.path, exc)  # fmt: skip
            return False
        self.rules = rules
        log.info("sampling rules loaded", extra={"rules": [r.spec.rule_name for r in rules]})
        return True

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        now = self._clock()
        if now >= self._next_check and self._reload_lock.acquire(blocking=False):
            try:
                self._next_check = now + self._check_every
                self.reload()
            finally:
                self._reload_lock.release()
        if links and any(link.context.trace_flags.sampled for link in links):
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, trace_state)
        method = str((attributes or {}).get("http.request.method", ""))
        path = str((attributes or {}).get("url.path", ""))
        spare = bool((attributes or {}).get(NO_RESERVOIR))
        for rule in self.rules:
            if rule.matches(method, path):
                if not spare and rule.borrow(now):
                    return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, trace_state)
                return rule.ratio.should_sample(
                    parent_context, trace_id, name, kind, attributes, links, trace_state
                )
        return SamplingResult(Decision.DROP, None, trace_state)

    def get_description(self) -> str:
        return f"RulesSampler{{{self.path}}}"


def rules_sampler(path: Path, service: str) -> Sampler:
    return ParentBased(root=RulesSampler(path, service))
