"""The curated signature rules (SQL injection, XSS, path traversal).

A small, precise subset in the spirit of the OWASP CRS at paranoia level 1 and the AWS managed
"core rule set"/"SQL database" groups: every pattern needs an attack-shaped context (a quote
breaking out, a tag, a keyword pair), so ordinary text such as "O'Brien", "select a seat" or
"1 or 2 tickets" passes. Patterns run on `normalize()`d text: decoded, lower-case, SQL comments
replaced by a space and whitespace collapsed.

Each rule also names `needles`: groups of literal substrings its pattern cannot match without
(one member of every group must be present), most selective group first. A search for
literals is several times cheaper than the pattern, so most benign values never reach it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Target(StrEnum):
    PATH = "path"
    QUERY = "query"
    HEADERS = "headers"
    BODY = "body"


ALL_TARGETS = frozenset(Target)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str
    pattern: re.Pattern[str]
    needles: tuple[tuple[str, ...], ...]
    targets: frozenset[Target] = ALL_TARGETS
    gates: tuple[re.Pattern[str], ...] = ()

    def matches(self, normalized: str) -> bool:
        for gate in self.gates:
            if gate.search(normalized) is None:
                return False
        return self.pattern.search(normalized) is not None


def literals(needles: Iterable[str]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(needle) for needle in needles))


def _rule(
    id_: str,
    description: str,
    pattern: str,
    needles: tuple[tuple[str, ...], ...],
    targets: frozenset[Target] = ALL_TARGETS,
) -> Rule:
    gates = tuple(literals(group) for group in needles)
    return Rule(id_, description, re.compile(pattern), needles, targets, gates)


_Q = r"['\"`]"  # a quote that closes the string literal the value was meant to stay inside
_QUOTES = ("'", '"', "`")
_STATEMENTS = (
    "drop", "delete", "insert", "update", "truncate", "alter", "create", "exec", "shutdown",
    "declare",
)  # fmt: skip

RULES: tuple[Rule, ...] = (
    _rule(
        "sqli-001",
        "SQL tautology after a closing quote (' or 1=1, \" or 'a'='a, ' or true--)",
        _Q
        + r"\s*\)*\s*(?:\bor|\band|\bxor|\|\||&&)\s*\(*\s*(?:"
        + _Q
        + r"?[\w.]{0,64}"
        + _Q
        + r"?\s*(?:=|<>|!=|<=>|<|>|\blike\b|\bregexp\b|\bbetween\b|\bin\s*\("
        + r"|\bis\s+(?:not\s+)?null\b)"
        + r"|(?:\d+|true|false|null)\s*(?:--|#|;|\)|$))",
        (_QUOTES, ("or", "and", "||", "&&")),
    ),
    _rule(
        "sqli-002",
        "SQL tautology on a number (1 or 1=1, 0 and 2>1--)",
        r"(?:\bor|\band|\bxor|\|\||&&)\s+\(*\s*(\d+)\s*(?:=|<=>|\blike\b)\s*\1\b"
        r"|\b(?:or|and)\s+\d+\s*(?:>|<|!=|<>)\s*\d+\s*(?:$|--|#|;)",
        (("=", "<", ">", "like"), ("or", "and", "||", "&&")),
    ),
    _rule(
        "sqli-003",
        "UNION-based SQL injection (union [all] select)",
        r"\bunion\b[\s(]*(?:all\b|distinct\b)?[\s(]*select\b",
        (("union",), ("select",)),
    ),
    _rule(
        "sqli-004",
        "Stacked SQL statement after a terminator (; drop table, ; delete from)",
        r";\s*(?:drop\s+(?:table|database|schema|user|index|view)\b"
        r"|delete\s+from\b|insert\s+into\b|update\s+[\w.`\"\[\]]{1,64}\s+set\b"
        r"|truncate\s+table\b|alter\s+(?:table|user|database)\b|create\s+(?:table|user)\b"
        r"|exec(?:ute)?\s+(?:xp_|sp_|master\.)|shutdown\b|declare\s+@)",
        ((";",), _STATEMENTS),
    ),
    _rule(
        "sqli-005",
        "Quote closed then the rest of the statement commented out (admin'--, x\")#)",
        _Q + r"\)*--|" + _Q + r"\s*\)*\s*(?:--[\s-]*$|#\s*$|;\s*(?:--|#))",
        (_QUOTES, ("--", "#")),
    ),
    _rule(
        "sqli-006",
        "Time-based blind SQL injection (sleep(), benchmark(), pg_sleep(), waitfor delay)",
        r"\b(?:sleep|pg_sleep)\s*\(\s*\d|\bbenchmark\s*\(\s*\d+\s*,"
        r"|\bwaitfor\s+(?:delay|time)\s+" + _Q + r"\d",
        (("sleep", "benchmark", "waitfor"),),
    ),
    _rule(
        "sqli-007",
        "SQL catalogue and dangerous function probing (information_schema, xp_cmdshell, ...)",
        r"\binformation_schema\b|\bpg_catalog\.|\bsysobjects\b|\bsqlite_master\b"
        r"|\bmysql\.user\b|\bxp_cmdshell\b|\bload_file\s*\(|\binto\s+(?:out|dump)file\b"
        r"|\butl_http\.|\bdbms_pipe\.",
        (
            (
                "information_schema",
                "pg_catalog",
                "sysobjects",
                "sqlite_master",
                "mysql.user",
                "xp_cmdshell",
                "load_file",
                "outfile",
                "dumpfile",
                "utl_http",
                "dbms_pipe",
            ),
        ),
    ),
    _rule(
        "sqli-008",
        "Sub-select injected after a closing quote (' and (select ...)",
        _Q + r"\s*\)*\s*(?:\bor|\band|\|\||;|,|\+)\s*\(+\s*select\b",
        (("select",), _QUOTES),
    ),
    _rule(
        "xss-001",
        "Script tag (<script>, </script>)",
        r"<\s*/?\s*script\b",
        (("script",), ("<",)),
    ),
    _rule(
        "xss-002",
        'HTML event-handler attribute (<img onerror=...>, " onmouseover=...)',
        r"(?:<[a-z!/][^<>]{0,256}?[\s\"'/]|[\"'`](?:\s*|[^<>=\"'`]{0,64}?\s))"
        r"on(?:abort|animation\w+|auxclick|before\w+|blur|change|click|contextmenu|copy|cut"
        r"|dblclick|drag\w*|drop|end|error|focus\w*"
        r"|hashchange|input|invalid|key\w+|load\w*|message|mouse\w+|page\w+|paste|pointer\w+"
        r"|popstate|reset|resize|scroll|search|select|show|start|submit|toggle|touch\w+"
        r"|transition\w+|unload|wheel)\s*=",
        (("=",), ("on",), ("<", *_QUOTES)),
    ),
    _rule(
        "xss-003",
        "Script URI scheme (javascript:alert(1), data:text/html)",
        r"\b(?:java|vb|live)\s*script\s*:\s*[\w$.]{1,64}\s*[(\[.=`]"
        r"|\bdata\s*:\s*(?:text/html|application/(?:x-)?javascript|image/svg\+xml)\s*[;,]",
        (("script", "data"), (":",)),
    ),
    _rule(
        "xss-004",
        "Markup that embeds active content (<iframe>, <object>, <embed>, <svg>, <meta http-equiv>)",
        r"<\s*(?:iframe|frame|frameset|object|embed|applet|svg|math)\b"
        r"|<\s*(?:base|link|meta)\b[^<>]{0,256}?\s(?:href|http-equiv)\s*=",
        (("<",),),
    ),
    _rule(
        "xss-005",
        "DOM sink or script-string breakout (document.cookie, .innerHTML=, '-alert(1)-')",
        r"\bdocument\s*\.\s*(?:cookie|domain|write(?:ln)?\s*\()|\.\s*(?:inner|outer)html\s*="
        r"|\bstring\s*\.\s*fromcharcode\s*\(|\bwindow\s*\.\s*location\s*="
        r"|[\"'`]\s*[-+*/;,|&]\s*(?:alert|prompt|confirm|eval)\s*[(`]",
        (
            (
                "document",
                "html",
                "fromcharcode",
                "location",
                "alert",
                "prompt",
                "confirm",
                "eval",
            ),
        ),
    ),
    _rule(
        "lfi-001",
        "Path traversal (../../ climbing out of the web root)",
        r"(?:\.\.[/\\]){2,}|(?:^|[/\\])\.\.[/\\][^?#]{0,200}?\b(?:etc|windows|proc|boot)\b",
        (("..",),),
        frozenset({Target.PATH, Target.QUERY, Target.BODY}),
    ),
    _rule(
        "lfi-002",
        "Well-known sensitive file (/etc/passwd, /proc/self/environ, win.ini)",
        r"/etc/(?:passwd|shadow|group|hosts)\b|/proc/self/|\b(?:win|boot|system)\.ini\b",
        (("/etc/", "/proc/", ".ini"),),
        frozenset({Target.PATH, Target.QUERY, Target.BODY}),
    ),
)

RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}
