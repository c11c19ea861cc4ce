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

# SSRF. PL1 flags what only an attacker writes: cloud metadata addresses (AWS, Azure, GCP,
# Alibaba, Oracle) in any spelling; hosts spelled as one integer, in hex or octal, or as
# IPv4-in-IPv6 (filter bypasses no client needs); loopback aliases and wildcard-DNS names that
# exist to slip past a `localhost` check; schemes that talk to internal services. A plain URL
# to the loopback, a private address or a cluster name is what development webhooks, push
# endpoints and service configuration carry: PL2 (generic-007); an API that fetches URLs keeps
# its own egress allow-list (the notifier's NOTIFIER_WEBPUSH_ALLOWED_HOSTS). A number alone is
# never a host: every host form needs the URL context around it (`http://`, `//`, `user@`).
_SSRF_PLACES = frozenset({Place.ARG, Place.ARG_NAME, Place.COOKIE, Place.COOKIE_NAME, Place.BODY})
_METADATA = (
    r"\b169\.254\.169\.254\b|\bmetadata\.google\.internal\b|\b100\.100\.100\.200\b"
    r"|\b192\.0\.0\.192\b|\bfd00:ec2::254\b|::ffff:a9fe:a9fe\b"
    r"|\binstance-data(?:\.ec2\.internal)?\b ?[:/]"
)
# Where a host starts: after a scheme's `//`, a `//` opening the value, or userinfo's `@`.
_URL = r"(?:\b[a-z][\w+.-]{0,15} ?: ?/ ?/|^ ?/ ?/) ?(?:[^/?#@ ]{0,64}@)?"
_HOST_END = r"(?::\d{1,5})?(?:[/?#\\]|$)"
# A host spelled to dodge address filters: one integer (2130706433), hex (0x7f000001,
# 0x7f.1), octal dotted (0177.0.0.1), or a bracketed IPv6 literal that spells an IPv4
# address or the unspecified one ([::ffff:7f00:1], [::ffff:127.0.0.1], [::], [0:0::0]).
_OBFUSCATED_HOST = (
    r"(?:\d{8,10}|0x[0-9a-f]{1,8}(?:\.[0-9a-fx]{1,10}){0,3}|0[0-7]{1,4}(?:\.[0-7x]{1,10}){1,3}"
    r"|\[[0-9a-f:]{0,30}(?:ffff:[0-9a-f:.]{1,20}|\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\]"
    r"|\[(?:0{0,4}:){2,7}0{0,4}\])" + _HOST_END
)
# Loopback aliases and wildcard-DNS names that resolve to the loopback: spellings whose only
# use in a request is to get past a check for `localhost` and `127.0.0.1`.
_BYPASS_HOST = (
    r"(?:localhost[46]|ipv6-localhost|ip6-localhost|ip6-loopback|localtest\.me"
    r"|[\w.-]{1,60}\.(?:nip|sslip|xip)\.io)" + _HOST_END
)
# A value that starts as a URL or a bare host (`localhost/x`, `http://localhost:8080`).
_HOST_FIRST = r"^ ?(?:[a-z][\w+.-]{0,15} ?: ?/ ?/ ?)?(?:[^/?#@ ]{0,64}@)?"
_INTERNAL_HOST = (
    r"(?:localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|0\.0\.0\.0|\[::1?\]|10\.\d{1,3}\.\d{1,3}\.\d{1,3}"
    r"|172\.(?:1[6-9]|2\d|3[01])\.\d{1,3}\.\d{1,3}|192\.168\.\d{1,3}\.\d{1,3}"
    r"|\[[0-9a-f]{0,4}:[0-9a-f:]{1,40}\]|host\.docker\.internal|kubernetes\.docker\.internal"
    r"|kubernetes\.default(?:\.svc)?|[\w.-]{1,60}\.svc\.cluster\.local|[\w.-]{1,60}\.internal"
    r"|metadata)" + _HOST_END
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
        "Server-side request forgery: a cloud metadata address, an obfuscated host or an "
        "internal-service scheme (169.254.169.254, http://2852039166/, gopher://)",
        _METADATA
        + "|"
        + _URL
        + _OBFUSCATED_HOST
        + "|"
        + _HOST_FIRST
        + _BYPASS_HOST
        + r"|\b(?:gopher|dict|ldap|tftp|jar|netdoc) ?: ?/ ?/",
        places=_SSRF_PLACES,
    ),
    signature(
        "generic-007",
        "Server-side request forgery to the loopback, a private or IPv6 address or an internal "
        "name (http://127.0.0.1:6379/, localhost/, http://10.0.0.5/, x.svc.cluster.local)",
        _HOST_FIRST + _INTERNAL_HOST,
        places=_SSRF_PLACES,
        pl=2,
    ),
)
