"""Other code injection: Node.js, prototype pollution, server-side templates, Ruby and Perl,
and requests that make the server fetch internal addresses (SSRF)."""

from __future__ import annotations

from services.gateway.waf.signatures.rule import (
    ALL_HEADERS,
    INPUTS,
    Place,
    Signature,
    View,
    signature,
)

SIGNATURES: tuple[Signature, ...] = (
    signature(
        "generic-001",
        "Node.js code injection (require('child_process'), process.mainModule, _$$ND_FUNC$$_)",
        r"_\$\$nd_func\$\$_|\brequire ?\( ?[\"'`](?:child_process|fs|net|http|vm|os)[\"'`]"
        r"|\bprocess ?\. ?(?:mainmodule|binding|env|kill|exit|dlopen)\b|\bchild_process\b"
        r"|\b(?:execsync|spawnsync|execfile|fork) ?\(|\bthis ?\. ?constructor ?\. ?constructor"
        r"|\bconstructor ?\. ?constructor ?\(|\bglobal ?\. ?process\b|\bmodule ?\. ?exports"
        r"|\bnew function ?\( ?[\"'`]|\bfunction ?\( ?\) ?\{ ?return\b|\beval ?\( ?[\"'`]"
        r"|\bbuffer ?\. ?from ?\(|\bimport ?\( ?[\"'`](?:child_process|fs)"
        r"|\bprocess ?\[|\bconsole ?(?:\[ ?[\"'`]|\. ?\w+ ?\()|__js_function"
        r"|\$\d:constructor:constructor|\bwhile ?\( ?(?:!{1,2}|-|\+|\(|true\b|1\b|new\b"
        r"|string\b|-?infinity\b|undefined\b)",
    ),
    signature(
        "generic-002",
        "Node.js serialized function in base64 (_$$ND_FUNC$$_)",
        r"XyQkTkRfRlVOQyQkX|8kJE5EX0ZVTkMkJF|fJCRORF9GVU5DJCRf"
        r"|XyQkXHUwMDRlXHUwMDQ0X0ZVTkMkJF",
        places=INPUTS | ALL_HEADERS,
        view=View.RAW,
    ),
    signature(
        "generic-003",
        "Prototype pollution (__proto__, constructor.prototype, constructor[prototype])",
        r"\b__proto__\b|\bconstructor ?(?:\. ?|\[ ?[\"']?)prototype\b"
        r"|\[ ?[\"']?__proto__|\bprototype ?\. ?(?:constructor|__proto__)"
        r"|\[ ?[\"']?constructor[\"']? ?\] ?\[ ?[\"']?prototype",
        places=INPUTS | frozenset({Place.URI}),
    ),
    signature(
        "generic-004",
        "Server-side template injection ({{7*7}}, ${7*7}, <%= %>, {{''.__class__}})",
        r"\{\{[^}]*(?:__class__|__mro__|__subclasses__|__globals__|__builtins__"
        r"|__init__|config|request\.|self\.|lipsum|cycler|joiner|namespace|range\(|popen"
        r"|\d ?\* ?\d|\|attr|constructor|_self\.env)|\{%[^%]*(?:import|include|set|for"
        r"|if|exec|system)|\$\{ ?\d+ ?[*+/-] ?\d+ ?\}|#\{ ?\d+ ?[*+/-] ?\d+ ?\}"
        r"|<%= ?[^%]*(?:system|exec|`|file\.|io\.|popen|eval|\d ?\* ?\d)"
        r"|\{\{ ?[\w.]{1,40} ?\( ?\) ?\}\}|\[\[ ?\d+ ?\* ?\d+ ?\]\]|\*\{ ?[^}]{0,60}\}",
    ),
    signature(
        "generic-005",
        "Ruby or Perl code injection (Kernel.exec, %x(), IO.popen, @{[ system ]}, open(|)",
        r"\bkernel ?\. ?(?:exec|system|spawn|open|eval|`)|\bio ?\. ?popen\b|%x[({\[]"
        r"|\bopen3\b|\binstance_eval\b|\bclass_eval\b|\bsend ?\( ?:(?:system|exec|eval)"
        r"|@\{ ?\[ ?[^\]]{0,100}\]|\bsystem ?\( ?[\"'`]|\bqx ?[({\[/]|\bopen ?\( ?[\"'`]? ?\|"
        r"|\b(?:yaml|marshal) ?\. ?(?:load|restore)\b|!ruby/(?:object|hash|class)"
        r"|!!python/(?:object|name|module)|\bobject ?: ?(?:gem::|erb|net::)"
        r"|\bprocess ?\. ?spawn ?\(",
    ),
    signature(
        "generic-006",
        "Server-side request forgery to a metadata or internal address (169.254.169.254)",
        r"\b169\.254\.169\.254\b|\bmetadata\.google\.internal\b|\b100\.100\.100\.200\b"
        r"|\bfd00:ec2::254\b|\b(?:gopher|dict|ldap|tftp|jar|netdoc) ?: ?/ ?/"
        r"|^ ?(?:https?://)?(?:localhost\d?|ipv6-localhost|127\.\d+\.\d+\.\d+|0\.0\.0\.0"
        r"|\[[0-9a-f:]{0,40}\]|0x[0-9a-f]{8}|0x7f[\w.]*|\d{8,10}|0177\.[\d.]+"
        r"|host\.docker\.internal|kubernetes\.docker\.internal|kubernetes\.default(?:\.svc)?"
        r"|[\w.-]{1,60}\.svc\.cluster\.local|localtest\.me|[\w.-]{1,60}\.(?:nip|sslip)\.io"
        r"|instance-data|metadata)(?:[:/?#]|$)",
        places=frozenset({Place.ARG, Place.ARG_NAME, Place.COOKIE, Place.COOKIE_NAME, Place.BODY}),
    ),
)
