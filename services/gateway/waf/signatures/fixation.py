"""Session fixation: a value that sets a cookie for the victim (HTML meta, script), or a
session identifier passed in the URL or a form, where a victim's link can carry one the
attacker chose."""

from __future__ import annotations

from services.gateway.waf.signatures.rule import Place, Signature, signature

SIGNATURES: tuple[Signature, ...] = (
    signature(
        "fixation-001",
        "Cookie set from within a value (document.cookie=...; domain=, http-equiv=set-cookie)",
        r"\.cookie\b.{0,200};\W{0,10}(?:expires|domain|path)\W{0,10}="
        r"|\bhttp-equiv\W{1,10}set-cookie\b",
    ),
    signature(
        "fixation-002",
        "Session identifier as a request argument (?jsessionid=, ?PHPSESSID=, ;jsessionid=)",
        r"^ ?(?:jsessionid|phpsessid|asp\.net_sessionid|aspsessionid\w{0,20}|connect\.sid"
        r"|next-auth\.session-token|__secure-next-auth\.session-token|rack\.session|sails\.sid"
        r"|koa[:.]sess|zend_session_id|weblogicsession|laravel_session|ci_session|_session_id"
        r"|express[:.]sess|django_session|sessionid|session_id|cfid|cftoken|jsessionidsso"
        r"|symfony|_rails_session|ssid|shopify_session|frontend|wp_sess)$|;jsessionid=",
        places=frozenset({Place.ARG_NAME, Place.PATH}),
    ),
)
