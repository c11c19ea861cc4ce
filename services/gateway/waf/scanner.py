"""Feed the inspected parts of a request (path, query, chosen headers, body) to the rules.

Each part is normalised once and run through the rules that target it. JSON bodies are walked
(keys and string values, iteratively, within a character budget) and urlencoded forms are split
into names and values, so a payload cannot hide in the escaping of its container.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from services.gateway.request import Request
from services.gateway.waf.normalize import MAX_VALUE_CHARS, normalize
from services.gateway.waf.rules import Rule, Target, literals
from services.gateway.waf.validation import field_path

# Credentials are never inspected (nor could a match on them be logged safely).
_SKIPPED_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key"})
_NAMED_HEADERS = frozenset({"user-agent", "referer", "cookie"})
_CACHEABLE_CHARS = 256
_WINDOW_OVERLAP = 256  # a payload straddling two windows still appears whole in one
_CACHE_ENTRIES = 8192


class Part(NamedTuple):  # a tuple: several are built for every request
    target: Target
    label: str  # where the value came from, for the log: "query:q", "header:user-agent", ...
    value: str


@dataclass(frozen=True, slots=True)
class Match:
    rule: Rule
    part: Part


def request_parts(request: Request) -> Iterator[Part]:
    """Path (undecoded, so `..%2f` survives), query names and values, chosen headers."""
    raw_path = request.raw_path.split("?", 1)[0]
    yield Part(Target.PATH, "path", raw_path)
    for name, value in request.query:
        yield Part(Target.QUERY, f"query:{name}", name)
        if value:
            yield Part(Target.QUERY, f"query:{name}", value)
    for header, value in request.headers.items():
        name = header.lower()
        if name in _SKIPPED_HEADERS:
            continue
        if name in _NAMED_HEADERS or name.startswith("x-"):
            yield Part(Target.HEADERS, f"header:{name}", value)


def json_parts(document: Any, budget: int) -> Iterator[Part]:
    """Object keys and string values of a parsed JSON document, until `budget` chars are seen."""
    stack: list[tuple[list[str | int], Any]] = [([], document)]
    while stack and budget > 0:
        path, node = stack.pop()
        if isinstance(node, str):
            budget -= len(node)
            yield Part(Target.BODY, f"body:{field_path(path)}", node)
        elif isinstance(node, dict):
            for key, value in reversed(list(node.items())):
                budget -= len(key)
                yield Part(Target.BODY, f"body:{field_path([*path, key])}", key)
                stack.append(([*path, key], value))
        elif isinstance(node, list):
            stack.extend(([*path, index], item) for index, item in reversed(list(enumerate(node))))


def form_parts(body: bytes) -> Iterator[Part]:
    text = body.decode("utf-8", "replace")
    for name, value in parse_qsl(text, keep_blank_values=True, max_num_fields=1000):
        yield Part(Target.BODY, f"body:{name}", name)
        if value:
            yield Part(Target.BODY, f"body:{name}", value)


def text_parts(body: bytes) -> Iterator[Part]:
    """Raw body text in overlapping windows, as each value is only inspected so far."""
    text = body.decode("utf-8", "replace")
    step = MAX_VALUE_CHARS - _WINDOW_OVERLAP
    for start in range(0, max(len(text) - _WINDOW_OVERLAP, 1), step):
        yield Part(Target.BODY, "body", text[start : start + MAX_VALUE_CHARS])


class Scanner:
    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._by_target = {
            target: tuple(rule for rule in self.rules if target in rule.targets)
            for target in Target
        }
        # One search for any rule's most selective needle settles most benign values at once.
        self._gate = {
            target: literals({needle for rule in rules for needle in rule.needles[0]})
            for target, rules in self._by_target.items()
            if rules
        }
        # Real traffic repeats values (user agents, cookies, common query values): remember
        # short values' verdicts. Unique junk only churns the bounded cache.
        self._verdicts: dict[tuple[Target, str], tuple[Rule, ...]] = {}

    def scan(self, part: Part) -> Iterator[Match]:
        for rule in self.verdict(part):
            yield Match(rule, part)

    def verdict(self, part: Part) -> tuple[Rule, ...]:
        """The rules `part` matches (usually none): `scan` without a generator per part."""
        value = part.value
        if not value or not self._by_target[part.target]:
            return ()
        if len(value) > _CACHEABLE_CHARS:
            return self._evaluate(part.target, value)
        key = (part.target, value)
        cached = self._verdicts.get(key)
        if cached is None:
            cached = self._verdicts[key] = self._evaluate(part.target, value)
            if len(self._verdicts) > _CACHE_ENTRIES:
                del self._verdicts[next(iter(self._verdicts))]
        return cached

    def _evaluate(self, target: Target, value: str) -> tuple[Rule, ...]:
        normalized = value.lower() if value.isalnum() else normalize(value)
        if self._gate[target].search(normalized) is None:
            return ()
        return tuple(rule for rule in self._by_target[target] if rule.matches(normalized))
