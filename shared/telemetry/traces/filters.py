"""X-Ray filter expressions: one parser (Lark, LALR) for `traces find` and the console.

    service("waitingroom") { fault } OR responsetime > 0.5
    annotation.zone = "launch" AND NOT throttle
    edge("gateway", "waitingroom") { http.status >= 500 }
    http.url CONTAINS "/join" AND duration < 2
    id(name: "kafka:waitingroom.zones", type: "topic")

Keywords: `ok error fault throttle` (booleans: alone, negated, or `= true|false`), `duration`
and `responsetime` (seconds, as in X-Ray), `http.status`, `http.method`, `http.url`,
`annotation.<key>`. Functions: `service("name")`, `edge("source", "target")`, `id("name")` or
`id(name: "name", type: "service|topic|store|client")`, each optionally followed by `{ ... }`,
a condition on that node's or edge's spans. Operators: `= != < <= > >= CONTAINS BEGINSWITH
ENDSWITH AND OR NOT ( )` (`!` works for NOT; the words in any case).

`compile_filter(text)` returns a `Filter` (a predicate on one trace) or raises `FilterError`
with the 1-based column and what was expected there. Its meaning on one trace is in
`shared.telemetry.traces.matching`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr | or_expr OR and_expr -> or_
?and_expr: unary | and_expr AND unary -> and_
?unary: NOT unary -> not_ | BANG unary -> not_ | primary
?primary: "(" or_expr ")"
        | condition
        | call
        | call "{" or_expr "}" -> scoped
condition: FIELD (OPERATOR value)?
call: FUNCTION "(" arg ("," arg)* ")"
arg: STRING | ARGNAME ":" STRING
value: STRING | NUMBER | BOOLEAN

OR.2: /or\b/i
AND.2: /and\b/i
NOT.2: /not\b/i
BANG: "!"
BOOLEAN.2: /(true|false)\b/i
FUNCTION.2: /(service|edge|id)(?=\s*\()/
ARGNAME.2: /(name|type)(?=\s*:)/
FIELD: /annotation\.[A-Za-z0-9_.\-]+/
     | /(ok|error|fault|throttle|duration|responsetime)\b/
     | /http\.(status|method|url)\b/
OPERATOR: "!=" | "<=" | ">=" | "=" | "<" | ">"
        | /contains\b/i | /beginswith\b/i | /endswith\b/i
STRING: /"(\\.|[^"\\])*"/
NUMBER: /-?\d+(\.\d+)?/

%import common.WS
%ignore WS
"""

_PARSER = Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)
_READABLE = {
    "OR": "OR",
    "AND": "AND",
    "NOT": "NOT",
    "BANG": "!",
    "BOOLEAN": "true or false",
    "FUNCTION": 'a function: service("..."), edge("...", "..."), id("...")',
    "ARGNAME": "name: or type:",
    "FIELD": "a keyword (ok, error, fault, throttle, duration, responsetime, http.status, "
    "http.method, http.url, annotation.<key>)",
    "OPERATOR": "an operator (= != < <= > >= CONTAINS BEGINSWITH ENDSWITH)",
    "STRING": 'a quoted string ("...")',
    "NUMBER": "a number",
    "LPAR": "(",
    "RPAR": ")",
    "LBRACE": "{",
    "RBRACE": "}",
    "COMMA": ",",
    "COLON": ":",
    "$END": "the end of the expression",
}
BOOLEANS = frozenset({"ok", "error", "fault", "throttle"})
NUMBERS = frozenset({"duration", "responsetime", "http.status"})
TEXTS = frozenset({"http.method", "http.url"})
ORDERED = frozenset({"<", "<=", ">", ">="})
WORDS = frozenset({"contains", "beginswith", "endswith"})
NODE_TYPES = frozenset({"service", "topic", "store", "client"})


class FilterError(ValueError):
    """A filter expression that does not parse or means nothing; `column` is 1-based."""

    def __init__(self, message: str, column: int, expected: list[str] | None = None) -> None:
        super().__init__(f"column {column}: {message}")
        self.message, self.column, self.expected = message, column, expected or []

    def as_dict(self) -> dict[str, Any]:
        return {"error": self.message, "column": self.column, "expected": self.expected}


# The expression tree: small frozen classes the matcher walks.
@dataclass(frozen=True)
class Condition:
    field: str  # a keyword, or `annotation.<key>`
    operator: str | None  # None: a bare boolean keyword
    value: str | float | bool | None


@dataclass(frozen=True)
class Not:
    operand: Expression


@dataclass(frozen=True)
class And:
    left: Expression
    right: Expression


@dataclass(frozen=True)
class Or:
    left: Expression
    right: Expression


@dataclass(frozen=True)
class Call:
    function: str  # service | edge | id
    names: tuple[str, ...]  # service: (name,), edge: (source, target), id: (name,)
    node_type: str | None = None  # id(type: ...)
    scope: Expression | None = None  # the `{ ... }` condition on that node's/edge's spans


Expression = Condition | Not | And | Or | Call


def _column(meta_or_token: Any) -> int:
    return int(getattr(meta_or_token, "column", 1) or 1)


@v_args(inline=True)
class _Build(Transformer[Token, Expression]):
    def or_(self, left: Expression, _op: Token, right: Expression) -> Expression:
        return Or(left, right)

    def and_(self, left: Expression, _op: Token, right: Expression) -> Expression:
        return And(left, right)

    def not_(self, _op: Token, operand: Expression) -> Expression:
        return Not(operand)

    def value(self, token: Token) -> tuple[Token, str | float | bool]:
        if token.type == "STRING":
            return token, _unquote(token)
        if token.type == "NUMBER":
            return token, float(token)
        return token, token.lower() == "true"

    def condition(
        self, field: Token, operator: Token | None = None, value: Any = None
    ) -> Expression:
        name = str(field)
        if operator is None:
            if name not in BOOLEANS:
                raise FilterError(
                    f"{name} needs an operator and a value", _column(field) + len(name)
                )
            return Condition(name, None, None)
        op = str(operator).lower()
        token, literal = value
        _check(name, op, literal, field, operator, token)
        return Condition(name, op, literal)

    def arg(self, *parts: Token) -> tuple[str | None, str, Token]:
        if len(parts) == 1:
            return None, _unquote(parts[0]), parts[0]
        return str(parts[0]), _unquote(parts[1]), parts[1]

    def call(self, function: Token, *args: tuple[str | None, str, Token]) -> Expression:
        name = str(function)
        positional = [value for key, value, _ in args if key is None]
        named = {key: (value, token) for key, value, token in args if key is not None}
        where = _column(function)
        if name == "service":
            if len(positional) != 1 or named:
                raise FilterError('service takes one name: service("waitingroom")', where)
            return Call("service", (positional[0],))
        if name == "edge":
            if len(positional) != 2 or named:
                raise FilterError('edge takes two names: edge("gateway", "waitingroom")', where)
            return Call("edge", (positional[0], positional[1]))
        node = named.get("name", (positional[0], None) if len(positional) == 1 else (None, None))
        if node[0] is None or len(positional) + ("name" in named) != 1:
            raise FilterError('id takes a name: id("waitingroom") or id(name: "...")', where)
        node_type = named.get("type")
        if node_type is not None and node_type[0] not in NODE_TYPES:
            raise FilterError(
                f"unknown node type {node_type[0]!r}", _column(node_type[1]), sorted(NODE_TYPES)
            )
        return Call("id", (node[0],), node_type[0] if node_type else None)

    def scoped(self, call: Call, scope: Expression) -> Expression:
        return Call(call.function, call.names, call.node_type, scope)


def _unquote(token: Token) -> str:
    text = str(token)[1:-1]
    return text.replace('\\"', '"').replace("\\\\", "\\")


def _check(
    field: str, op: str, value: Any, field_token: Token, op_token: Token, value_token: Token
) -> None:
    if field in BOOLEANS:
        if op not in ("=", "!=") or not isinstance(value, bool):
            raise FilterError(f"{field} is true or false: {field} = false", _column(op_token))
    elif field in NUMBERS:
        if not isinstance(value, float) or isinstance(value, bool):
            raise FilterError(f"{field} is compared with a number", _column(value_token))
        if op in WORDS:
            raise FilterError(f"{op.upper()} compares text, not {field}", _column(op_token))
    elif field in TEXTS:
        if not isinstance(value, str):
            raise FilterError(f"{field} is compared with a quoted string", _column(value_token))
        if op in ORDERED:
            raise FilterError(f"{field} is text: use = != CONTAINS ...", _column(op_token))
    elif op in WORDS and not isinstance(value, str):
        raise FilterError(f"{op.upper()} takes a quoted string", _column(value_token))


def compile_filter(text: str) -> Expression:
    """The expression tree of `text`; `FilterError` with the column and what was expected."""
    if not text.strip():
        raise FilterError("the expression is empty", 1, [_READABLE["FIELD"]])
    try:
        tree: Tree[Token] = _PARSER.parse(text)
        built: Expression = _Build().transform(tree)
    except UnexpectedInput as exc:
        raise _explain(exc, text) from None
    except Exception as exc:  # a FilterError raised inside the transformer comes wrapped
        inner = getattr(exc, "orig_exc", None)
        if isinstance(inner, FilterError):
            raise inner from None
        raise
    return built


def _explain(exc: UnexpectedInput, text: str) -> FilterError:
    column = int(getattr(exc, "column", 0) or 0)
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        # `accepts` (what the parser could take there, default reductions followed) is the
        # whole answer; `expected` only the current state's
        expected = _expected(getattr(exc, "accepts", None) or exc.expected)
        if token.type == "$END":
            return FilterError(
                f"the expression ends early; expected {' or '.join(expected)}",
                len(text) + 1,
                expected,
            )
        return FilterError(
            f"unexpected {str(token)!r}; expected {' or '.join(expected)}", column, expected
        )
    if isinstance(exc, UnexpectedCharacters):
        expected = _expected(exc.allowed or ())
        at = exc.pos_in_stream or 0
        got = (text[at : at + 12].split() or [""])[0]
        return FilterError(
            f"unexpected {got!r}; expected {' or '.join(expected) or 'something else'}",
            column,
            expected,
        )
    if isinstance(exc, UnexpectedEOF):
        expected = _expected(exc.expected)
        return FilterError(
            f"the expression ends early; expected {' or '.join(expected)}", len(text) + 1, expected
        )
    return FilterError(str(exc), column or 1)


def _expected(names: Any) -> list[str]:
    wanted = {str(name) for name in names}
    if "OR" in wanted:  # after a whole operand: LALR has reduced past AND, which fits as well
        wanted.add("AND")
    return sorted({_READABLE.get(name, name) for name in wanted})
