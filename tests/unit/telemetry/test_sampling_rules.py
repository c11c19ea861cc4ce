"""X-Ray-shaped sampling rules (shared/telemetry/rules.py): a reservoir per rule and second,
then the rule's fixed rate; priorities, wildcards, reloads and invalid files."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import Link, SpanContext, TraceFlags

from shared.settings import PlatformSettings
from shared.telemetry.rules import RulesSampler, parse_rules, pattern
from shared.telemetry.setup import build_tracer_provider
from tests.clock import ManualClock

pytestmark = pytest.mark.unit
JOIN = "/waitingroom/zones/*/join"


def write(path: Path, rules: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps({"rules": rules}))
    stat = path.stat()  # a distinct mtime even within the file system's time resolution
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def kept(sampler: RulesSampler, method: str, path: str, count: int, first_id: int = 1) -> int:
    attributes = {"http.request.method": method, "url.path": path}
    return sum(
        sampler.should_sample(None, first_id + n, "GET /", attributes=attributes).decision
        is Decision.RECORD_AND_SAMPLE
        for n in range(count)
    )


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "sampling-rules.json"
    write(
        path,
        [
            {"rule_name": "joins", "priority": 10, "service_name": "gateway",
             "http_method": "POST", "url_path": JOIN, "reservoir_size": 1, "fixed_rate": 0.0},
            {"rule_name": "Default", "reservoir_size": 2, "fixed_rate": 1.0},
        ],
    )  # fmt: skip
    return path


def test_a_join_rule_keeps_exactly_one_trace_per_second_while_others_follow_the_default(
    rules_file: Path,
) -> None:
    clock = ManualClock(5_000.0)
    sampler = RulesSampler(rules_file, "gateway", clock=clock)
    zone_join = "/waitingroom/zones/launch/join"
    for second in range(3):
        assert kept(sampler, "POST", zone_join, 50, first_id=second * 100 + 1) == 1
        # the default rule: its own reservoir, then its rate (1.0 here: every trace)
        assert kept(sampler, "GET", "/waitingroom/zones/launch", 20) == 20
        clock.advance(0.4)
        assert kept(sampler, "POST", zone_join, 10) == 0  # same second: the reservoir is spent
        clock.advance(0.6)
    # `*` spans slashes, the method must match, and only the gateway has the rule
    assert kept(sampler, "POST", "/waitingroom/zones/a/b/join", 5) == 1
    assert kept(sampler, "PUT", zone_join, 5) == 5
    other = RulesSampler(rules_file, "waitingroom", clock=clock)
    assert kept(other, "POST", zone_join, 5) == 5


def test_the_default_rule_without_a_file_entry_is_one_per_second_and_five_percent(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rules.json"
    write(path, [])
    clock = ManualClock(10.0)
    sampler = RulesSampler(path, "svc", clock=clock)
    (default,) = sampler.rules
    assert (default.spec.reservoir_size, default.spec.fixed_rate) == (1, 0.05)
    low, high = 1, 2**64 - 1  # TraceIdRatioBased compares the low 64 bits with a bound
    assert kept(sampler, "GET", "/", 1, first_id=high) == 1  # the reservoir
    assert kept(sampler, "GET", "/", 1, first_id=high) == 0  # past it, by trace id
    assert kept(sampler, "GET", "/", 1, first_id=low) == 1


def test_priority_orders_rules_and_question_mark_is_one_character(tmp_path: Path) -> None:
    rules = parse_rules(
        json.dumps({"rules": [
            {"rule_name": "b", "priority": 20, "url_path": "/a/*", "reservoir_size": 0,
             "fixed_rate": 1.0},
            {"rule_name": "a", "priority": 5, "url_path": "/a/?", "reservoir_size": 0,
             "fixed_rate": 0.0},
        ]}),
        "svc",
    )  # fmt: skip
    assert [r.spec.rule_name for r in rules] == ["a", "b", "Default"]
    assert pattern("/a/?").fullmatch("/a/x")
    assert not pattern("/a/?").fullmatch("/a/xy")
    assert pattern("*.json").fullmatch("/deep/path/x.json")
    assert not pattern("/a.b").fullmatch("/aXb")  # everything but * and ? is literal


def test_a_changed_file_is_applied_and_an_invalid_one_keeps_the_rules(
    rules_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(0.0)
    sampler = RulesSampler(rules_file, "gateway", clock=clock)
    assert [r.spec.rule_name for r in sampler.rules] == ["joins", "Default"]
    write(rules_file, [{"rule_name": "Default", "reservoir_size": 0, "fixed_rate": 0.0}])
    clock.advance(0.5)
    assert kept(sampler, "GET", "/x", 1) == 1  # not looked at yet: the old default keeps it
    clock.advance(4.0)  # well within 5 s
    assert kept(sampler, "GET", "/x", 3) == 0
    assert [r.spec.rule_name for r in sampler.rules] == ["Default"]

    with caplog.at_level(logging.WARNING, logger="shared.telemetry.rules"):
        for bad in ('{"rules": [', '{"rules": [{"rule_name": "x", "fixed_rate": 2}]}'):
            rules_file.write_text(bad)
            os.utime(rules_file, ns=(0, rules_file.stat().st_mtime_ns + 5_000_000))
            clock.advance(5.0)
            assert kept(sampler, "GET", "/x", 2) == 0  # the rules in force stay
            assert [r.spec.rule_name for r in sampler.rules] == ["Default"]
    reasons = [r.getMessage() for r in caplog.records]
    assert len(reasons) == 2
    assert "invalid sampling rules" in reasons[0]
    assert "reservoir_size" in reasons[1] or "fixed_rate" in reasons[1]


def test_a_root_linked_to_a_sampled_trace_is_kept_without_the_reservoir(
    rules_file: Path,
) -> None:
    clock = ManualClock(0.0)
    write(rules_file, [{"rule_name": "Default", "reservoir_size": 1, "fixed_rate": 0.0}])
    sampler = RulesSampler(rules_file, "waitingroom", clock=clock)
    join = SpanContext(7, 9, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    unsampled = SpanContext(8, 9, is_remote=True, trace_flags=TraceFlags(TraceFlags.DEFAULT))
    for n in range(5):
        decision = sampler.should_sample(None, 10 + n, "decide", links=[Link(join)]).decision
        assert decision is Decision.RECORD_AND_SAMPLE
    lone = sampler.should_sample(None, 2**64 - 1, "decide", links=[Link(unsampled)]).decision
    assert lone is Decision.RECORD_AND_SAMPLE  # the reservoir was still whole
    assert sampler.should_sample(None, 2**64 - 1, "decide").decision is Decision.DROP


def test_the_provider_uses_the_rules_file_and_children_follow_their_parent(
    rules_file: Path,
) -> None:
    platform = PlatformSettings(otel_sampling_rules_file=rules_file)
    provider = build_tracer_provider("gateway", platform)
    tracer = provider.get_tracer("t")
    attributes = {"http.request.method": "POST", "url.path": "/waitingroom/zones/z/join"}
    roots = [tracer.start_span("POST /{tail}", attributes=attributes) for _ in range(5)]
    assert [root.is_recording() for root in roots] == [True, False, False, False, False]
    from opentelemetry import trace

    child = tracer.start_span("child", context=trace.set_span_in_context(roots[1]))
    assert not child.is_recording()
    provider.shutdown()


def test_a_decision_root_never_takes_the_reservoir(rules_file: Path) -> None:
    write(rules_file, [{"rule_name": "Default", "reservoir_size": 1, "fixed_rate": 0.0}])
    sampler = RulesSampler(rules_file, "waitingroom", clock=ManualClock(0.0))
    tick = {"surge.sampling.no_reservoir": True}
    assert sampler.should_sample(None, 2**64 - 1, "decide", attributes=tick).decision is (
        Decision.DROP
    )
    assert kept(sampler, "POST", "/join", 1, first_id=2**64 - 1) == 1  # the reservoir was whole
