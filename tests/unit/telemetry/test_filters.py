"""X-Ray filter expressions: the grammar (errors with column and expected token) and what an
expression means on a trace, through `traces find` as a user runs it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from shared.telemetry.traces.cli import main
from shared.telemetry.traces.filters import FilterError, compile_filter
from tests.unit.test_traces_cli import one_trace, span, tid

pytestmark = pytest.mark.unit


@pytest.fixture
def spans(tmp_path: Path) -> Path:
    rows = [s for t in range(10) for s in one_trace(t)]
    # trace 10: a throttled join with annotations; trace 11: a 404
    rows += [
        span(10, 1, None, "POST /{tail}", "SERVER", "gateway", 0, 5, attrs={
            "http.request.method": "POST", "url.path": "/waitingroom/zones/launch/join",
            "http.response.status_code": 429, "surge.annotation.route": "waitingroom"}),
        span(11, 1, None, "GET /{tail}", "SERVER", "gateway", 0, 2, attrs={
            "http.request.method": "GET", "url.path": "/nope", "http.response.status_code": 404}),
        span(11, 2, 1, "GET /nope", "SERVER", "waitingroom", 0.5, 1.5, attrs={
            "surge.annotation.zone": "launch", "http.response.status_code": 404}),
    ]  # fmt: skip
    folder = tmp_path / "spans"
    folder.mkdir()
    (folder / "all-1.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return folder


def find(folder: Path, expression: str) -> set[str]:
    out = io.StringIO()
    assert main(["--dir", str(folder), "--json", "find", expression, "--limit", "100"], out) == 0
    return {t["trace_id"] for t in json.loads(out.getvalue())}


def test_keywords_functions_and_scopes(spans: Path) -> None:
    assert find(spans, "fault") == {tid(3)}
    assert find(spans, "throttle") == {tid(10)}
    assert find(spans, "error") == {tid(11)}
    assert len(find(spans, "ok")) == 9
    assert find(spans, "!ok AND NOT fault") == {tid(10), tid(11)}
    assert find(spans, "ok = false AND http.status = 429") == {tid(10)}
    assert find(spans, 'service("orders") { fault }') == {tid(3)}
    assert find(spans, 'service("notifier") { fault }') == set()
    assert find(spans, 'edge("gateway", "orders") { fault = true }') == {tid(3)}
    assert find(spans, 'edge("kafka:orders.placed", "notifier")') == {tid(t) for t in range(10)}
    assert find(spans, 'id(name: "kafka:orders.placed", type: "topic")') == {
        tid(t) for t in range(10)
    }
    assert find(spans, 'id(name: "kafka:orders.placed", type: "service")') == set()
    # responsetime: the entry request's; duration: the whole trace (seconds, as X-Ray)
    assert find(spans, "responsetime > 0.1") == {tid(9)}  # the gateway's 110 ms
    assert find(spans, "duration >= 0.16") == {tid(9), tid(8)}
    assert find(spans, 'http.method = "POST" AND http.url BEGINSWITH "/waitingroom"') == {tid(10)}
    assert find(spans, 'http.url ENDSWITH "/join" OR http.url CONTAINS "nope"') == {
        tid(10), tid(11)
    }  # fmt: skip
    assert find(spans, 'annotation.zone = "launch"') == {tid(11)}
    assert find(spans, 'service("waitingroom") { annotation.zone = "launch" AND error }') == {
        tid(11)
    }
    assert find(spans, '(fault OR throttle) and not service("orders")') == {tid(10)}


@pytest.mark.parametrize(
    ("expression", "column", "expected"),
    [
        ("fault AND", 10, "a keyword"),
        ("duration >", 11, "a number"),
        ('service("x") {', 15, "a keyword"),
        ("bogus = 1", 1, "a keyword"),
        ("fault )", 7, "AND"),
        ('http.url < "x"', 10, ""),
        ('http.status = "500"', 15, ""),
        ("duration", 9, ""),
        ('edge("a")', 1, ""),
        ("", 1, "a keyword"),
    ],
)
def test_errors_name_the_column_and_what_was_expected(
    expression: str, column: int, expected: str
) -> None:
    with pytest.raises(FilterError) as raised:
        compile_filter(expression)
    assert raised.value.column == column, str(raised.value)
    assert expected in " ".join(raised.value.expected), raised.value.expected


def test_find_prints_the_expression_with_a_caret(
    spans: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--dir", str(spans), "find", "fault AND )"]) == 2
    err = capsys.readouterr().err
    assert "  fault AND )\n            ^\n" in err
    assert "column 11: unexpected ')'" in err
