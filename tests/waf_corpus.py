"""The OWASP CRS regression corpus as request views, and detection rates per attack class.

`/work/shared/corpora/waf-crs-regression.jsonl` (the repository's `../shared/corpora/`) holds
CRS 4's go-ftw cases, one request per line: category, CRS rule id, paranoia level, method,
target, headers, body (or the whole request base64-encoded in `raw`), whether CRS expects a
block and whether a stock CRS at paranoia level 1 blocked it. A sample chosen from it by
`sample()` is committed under tests/data so CI always runs something meaningful.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.gateway.waf.view import RequestView

ROOT = Path(__file__).resolve().parents[1]
FULL = ROOT.parent / "shared" / "corpora" / "waf-crs-regression.jsonl"
SAMPLE = ROOT / "tests" / "data" / "waf-crs-sample.jsonl"
INSPECT_BYTES = 16384  # GATEWAY_WAF_BODY_INSPECT_BYTES's default
# The attack classes the gateway claims to stop at least as well as CRS at paranoia level 1.
CLAIMED = ("sqli", "xss", "lfi", "rfi", "rce", "php", "java", "protocol", "scanner")


@dataclass(frozen=True)
class Case:
    index: int  # the line number in its file, from 0 (tune on even lines, check odd ones)
    category: str
    rule: str
    test: str
    expect_block: bool
    crs_pl1: bool  # stock CRS at paranoia level 1 blocked it
    view: RequestView


def _from_raw(raw: str) -> RequestView:
    """A request given as raw bytes: request line, header lines, body (kept as sent)."""
    data = base64.b64decode(raw)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, _, rest = lines[0].partition(" ")
    target, _, version = rest.rpartition(" ")
    headers = tuple(
        (name.strip(), value.strip())
        for name, sep, value in (line.partition(":") for line in lines[1:])
        if sep
    )
    version = version.removeprefix("HTTP/") if version.startswith("HTTP/") else "0.9"
    return RequestView(method, target or rest, headers, body[:INSPECT_BYTES] or None, version)


def _view(row: dict[str, Any]) -> RequestView:
    if "raw" in row:
        return _from_raw(row["raw"])
    body: str = row.get("body") or ""
    version = str(row.get("version") or "HTTP/1.1").removeprefix("HTTP/")
    return RequestView(
        method=row.get("method") or "GET",
        target=row.get("uri") or "/",
        headers=tuple((str(name), str(value)) for name, value in row.get("headers") or ()),
        body=body.encode("utf-8", "surrogateescape")[:INSPECT_BYTES] if body else None,
        version=version,
    )


def load(path: Path) -> list[Case]:
    cases = []
    with path.open(encoding="utf-8") as lines:
        for index, line in enumerate(lines):
            row = json.loads(line)
            cases.append(
                Case(
                    index,
                    row["category"],
                    row["rule"],
                    row["test"],
                    bool(row["expect_block"]),
                    bool(row["crs_pl1"]),
                    _view(row),
                )
            )
    return cases


def sample(lines: list[str], size: int = 300) -> list[str]:
    """Every k-th line of each category, in proportion to the category's size (at least 3)."""
    by_category: dict[str, list[str]] = {}
    for line in lines:
        by_category.setdefault(json.loads(line)["category"], []).append(line)
    chosen = []
    for rows in by_category.values():
        want = max(3, round(size * len(rows) / len(lines)))
        step = max(1, len(rows) // want)
        chosen.extend(rows[::step][:want])
    return chosen


@dataclass
class Rates:
    """Attack cases blocked (ours and CRS PL1's) and benign cases blocked, per category."""

    attacks: Counter[str] = field(default_factory=Counter)
    ours: Counter[str] = field(default_factory=Counter)
    crs: Counter[str] = field(default_factory=Counter)
    negatives: Counter[str] = field(default_factory=Counter)
    our_false: Counter[str] = field(default_factory=Counter)
    crs_false: Counter[str] = field(default_factory=Counter)

    def detection(self, category: str) -> float:
        return self.ours[category] / self.attacks[category] if self.attacks[category] else 1.0

    def crs_detection(self, category: str) -> float:
        return self.crs[category] / self.attacks[category] if self.attacks[category] else 1.0

    def false_positive(self) -> float:
        return sum(self.our_false.values()) / max(1, sum(self.negatives.values()))

    def crs_false_positive(self) -> float:
        return sum(self.crs_false.values()) / max(1, sum(self.negatives.values()))


def rate(cases: Iterable[Case], blocked: Callable[[RequestView], bool]) -> Rates:
    rates = Rates()
    for case in cases:
        verdict = blocked(case.view)
        if case.expect_block:
            rates.attacks[case.category] += 1
            rates.ours[case.category] += verdict
            rates.crs[case.category] += case.crs_pl1
        else:
            rates.negatives[case.category] += 1
            rates.our_false[case.category] += verdict
            rates.crs_false[case.category] += case.crs_pl1
    return rates


def halves(cases: list[Case]) -> Iterator[tuple[str, list[Case]]]:
    yield "even", [case for case in cases if case.index % 2 == 0]
    yield "odd", [case for case in cases if case.index % 2 == 1]
