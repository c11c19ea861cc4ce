"""Cross-site scripting: script tags, event handlers, script URIs, active markup, DOM sinks.

Patterns run on `decode.normal()` text, where HTML entities and JavaScript escapes are already
undone (`&lt;script&gt;`, `\\u003cscript` and `%3Cscript` all read `<script`). PL1 needs
markup or a script-string breakout; a bare "<3", "a <b> tag" or "JavaScript: The Good Parts"
passes.
"""

from __future__ import annotations

from services.gateway.waf.signatures.rule import ALL_HEADERS, INPUTS, Signature, signature

_EVENTS = (
    r"on(?:abort|activate|afterprint|afterscriptexecute|animation\w+|auxclick|beforecopy"
    r"|beforecut|beforeinput|beforepaste|beforeprint|beforescriptexecute|beforetoggle"
    r"|beforeunload|begin|blur|bounce|canplay\w*|change|click|close|contextmenu|copy|cuechange"
    r"|cut|dblclick|drag\w*|drop|durationchange|emptied|end|ended|error|finish|focus\w*"
    r"|formdata|fullscreen\w*|hashchange|input|invalid|key\w+|load\w*|message|mouse\w+"
    r"|mozfullscreen\w*|offline|online|pagehide|pageshow|paste|pause|play\w*|pointer\w+"
    r"|popstate|progress|ratechange|readystatechange|repeat|reset|resize|scroll\w*|search"
    r"|seek\w+|select\w*|show|stalled|start|storage|submit|suspend|timeupdate|toggle|touch\w+"
    r"|transition\w+|unhandledrejection|unload|volumechange|waiting|webkit\w+|wheel)"
)
_SINKS = (
    r"alert|prompt|confirm|eval|settimeout|setinterval|fetch|atob|import|print|top\[|self\["
    r"|window\[|parent\[|this\[|globalthis\[|document\.write|constructor"
)

SIGNATURES: tuple[Signature, ...] = (
    signature("xss-001", "Script tag (<script>, </script>)", r"< ?/? ?script\b"),
    signature(
        "xss-002",
        'HTML event-handler attribute (<img onerror=...>, " onmouseover=...)',
        r"<[a-z!/?][^<>]{0,512}[\s\"'/`]on[a-z]{3,40} ?="
        r"|[\"'`;] ?(?:[^<>=\"'`]{0,64} )?" + _EVENTS + r" ?=",
    ),
    signature(
        "xss-003",
        "Script URI scheme (javascript:alert(1), vbscript:, data:text/html)",
        r"\b(?:java|vb|live|ecma|j|jav|ja) ?script ?: ?(?:[\w$.]{1,64} ?[(\[.=`'\"]"
        r"|[/'\"`(\[{!~+-]|$)"
        r"|\bdata ?: ?(?:text/(?:html|xml|javascript)|application/(?:x-)?(?:javascript|xhtml)"
        r"|image/svg\+xml|text/x-\w+) ?[;,]",
    ),
    signature(
        "xss-004",
        "Markup that embeds active content (<iframe>, <object>, <embed>, <svg>, <meta refresh>)",
        r"< ?(?:iframe|frame|frameset|object|embed|applet|svg|math|isindex|xss|base|portal"
        r"|template|noscript|listing|xmp|plaintext|marquee|bgsound|layer|ilayer|import"
        r"|animate|set|handler|x)\b"
        r"|< ?(?:link|meta|style|form|button|input|image|img|video|audio|source|body|html|a"
        r"|div|details|select|textarea|keygen|table|td|object)\b[^<>]{0,512}"
        r"(?:\b(?:href|src|action|formaction|data|http-equiv|srcdoc|background|dynsrc|lowsrc"
        r"|poster|code|codebase|xlink:href|content|style) ?= ?[\"'`]? ?(?:[a-z]{0,12}script ?:"
        r"|data ?:|refresh|expression|[^\"'` >]{0,200}javascript)|@import)",
    ),
    signature(
        "xss-005",
        "DOM sink or script-string breakout (document.cookie, .innerHTML=, '-alert(1)-')",
        r"\bdocument ?\. ?(?:cookie|domain|write(?:ln)? ?\(|location|body ?\. ?innerhtml)"
        r"|\. ?(?:inner|outer)html ?=|\bstring ?\. ?fromcharcode ?\(|\bwindow ?\. ?location ?="
        r"|\blocation ?\. ?(?:href|replace|assign) ?[=(]|\bnew function ?\("
        r"|[\"'`] ?\)? ?[-+*/;,|&^%<>=]+ ?\(? ?(?:" + _SINKS + r") ?[(`\[]"
        r"|\b(?:alert|prompt|confirm) ?(?:\( ?[\w\"'`/.]{0,40} ?\)|`[^`]{0,40}`)"
        r"|\beval ?\( ?(?:atob|unescape|string|decodeuri|location|name|\w+ ?\.)"
        r"|\b(?:top|self|window|parent|globalthis|this) ?\[ ?[\"'`]",
    ),
    signature(
        "xss-006",
        "CSS or legacy script vector (expression(), -moz-binding, behavior:, vbscript)",
        r"\bexpression ?\(|-moz-binding ?:|\bbehavior ?: ?url|@import ?[\"'(u]"
        r"|url ?\( ?[\"']? ?(?:java|vb)script|\bfscommand\b|\bseeksegmenttime\b",
    ),
    signature(
        "xss-007",
        "HTML tag with attributes or a closing tag mixed into a value (<b onclick, </title>)",
        r"< ?/ ?(?:title|textarea|style|script|noscript|xmp|iframe|template|select|option"
        r"|head|html|body) ?>|<[a-z][\w-]{0,20} [^<>]{0,200}= ?[^<>]{0,200}>"
        r"|<!--|<!\[cdata\[|<\?xml|<!doctype|<!entity",
        pl=2,
    ),
    signature(
        "xss-008",
        "A script tag, event handler or script URI in any request header",
        r"< ?/? ?script\b|<[a-z!/?][^<>]{0,512}[\s\"'/`]on[a-z]{3,40} ?=|javascript ?:",
        places=ALL_HEADERS,
        pl=2,
    ),
    signature(
        "xss-009",
        "Any HTML tag opening in a value (<b>, <a href=...>)",
        r"<[a-z][\w-]{0,20}[\s/>]",
        places=INPUTS,
        pl=3,
    ),
)
