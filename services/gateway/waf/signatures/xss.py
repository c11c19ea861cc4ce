"""Cross-site scripting: script tags, event handlers, script URIs, active markup, DOM sinks.

Patterns run on `decode.normal()` text, where HTML entities and JavaScript escapes are already
undone (`&lt;script&gt;`, `\\u003cscript` and `%3Cscript` all read `<script`). PL1 needs
markup or a script-string breakout; a bare "<3", "a <b> tag" or "JavaScript: The Good Parts"
passes.
"""

from __future__ import annotations

from services.gateway.waf.signatures.rule import (
    ALL_HEADERS,
    INPUTS,
    Place,
    Signature,
    View,
    signature,
)

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

_ANYWHERE = INPUTS | ALL_HEADERS
# Tag names spelled with a separator between every letter (<f o r m, <s/c/r/i/p/t): filters
# that drop the separators rebuild the tag.
_SPACED_TAGS = "|".join(
    "[^\\w<>]".join(name)
    for name in ("script", "form", "dialog", "iframe", "object", "embed", "style", "marquee")
)
_JAVASCRIPT = (
    r"\bj ?a ?v ?a ?s ?c ?r ?i ?p ?t ?:|\bv ?b ?s ?c ?r ?i ?p ?t ?:|\b(?:live|ecma|j)script ?:"
)

SIGNATURES: tuple[Signature, ...] = (
    signature("xss-001", "Script tag (<script>, </script>)", r"< ?/? ?script\b", places=_ANYWHERE),
    signature(
        "xss-002",
        'HTML event-handler attribute (<img onerror=...>, " onmouseover=...)',
        r"<[a-z!/?][^<>]*[\s\"'/`]on[a-z]{3,40} ?="
        r"|(?:^|[\s\"'`;/=(,]) ?(?:" + _EVENTS + r"|formaction|srcdoc|xlink:href) ?="
        r"|[\"'`] ?on[a-z]{3,40} ?=|[\s;/]on[a-z]{3,40}=",
        places=_ANYWHERE,
    ),
    signature(
        "xss-003",
        "Script URI scheme (javascript:alert(1), vbscript:, data:text/html)",
        r"(?:" + _JAVASCRIPT + r") ?(?:[^\sa-z0-9]|[\w$.]{1,64} ?[(\[.=`'\"]|$)"
        r"|\bdata ?: ?(?:text/(?:html|xml|javascript)|application/(?:x-)?(?:javascript|xhtml)"
        r"|image/svg\+xml|text/x-\w+) ?[;,]",
        places=_ANYWHERE,
    ),
    signature(
        "xss-004",
        "Markup that embeds active content (<iframe>, <object>, <svg>, <style>, <link href>)",
        r"< ?(?:iframe|frame|frameset|object|embed|applet|svg|math|isindex|xss|base|portal"
        r"|template|noscript|listing|xmp|plaintext|marquee|bgsound|layer|ilayer|import"
        r"|animate|set|handler|x|style|vmlframe)\b|< ?\?import|<import\w{0,40}implementation"
        r"|<[\w]{0,10}:(?:vmlframe|image|imagedata|shape)\b|vmlframe\b"
        r"|< ?(?:link|base)\b[^<>]*[\s/]href ?/? ?=|< ?meta\b[^<>]*(?:http-equiv"
        r"|charset|content ?= ?[\"'`]? ?\d+ ?;)"
        r"|<[a-z][\w:-]{0,30}[^<>]*\b(?:xmlns(?::\w+)?|xlink ?: ?href|xsi ?: ?\w+"
        r"|xi ?: ?include) ?="
        r"|< ?(?:form|button|input|image|img|video|audio|source|body|html|a|div|details"
        r"|select|textarea|keygen|table|td|object)\b[^<>]*"
        r"(?:\b(?:href|src|action|formaction|data|srcdoc|background|dynsrc|lowsrc"
        r"|poster|code|codebase|content|style) ?= ?[\"'`]? ?(?:[a-z]{0,12}script ?:"
        r"|data ?:|expression|[^\"'` >]*javascript)|@import)"
        r"|\+ad[w0]-|\xbc[^\xbe>]*[\xbe>]|<[a-z][^<>]*\bpattern ?=",
        places=_ANYWHERE,
    ),
    signature(
        "xss-005",
        "DOM sink or script-string breakout (document.cookie, .innerHTML=, '-alert(1)-')",
        r"\bdocument ?\. ?(?:cookie|domain|write(?:ln)? ?\(|location|body\b|createelement"
        r"|getelement\w{0,20}|documentelement|forms|execcommand|defaultview|all\b"
        r"|queryselector(?:all)?\b|evaluate\b|open ?\(|currentscript|referrer|baseuri|url\b)"
        r"|\. ?(?:inner|outer)html ?=|\bstring ?\. ?fromcharcode ?\(|\bwindow ?\. ?location\b"
        r"|\blocation ?\. ?(?:href|replace|assign|hash|search) ?[=(]|\bnew function ?\("
        r"|\.parentnode\b|\.appendchild ?\(|\.insertadjacenthtml ?\(|\.srcdoc ?="
        r"|[\"'`] ?\)? ?[-+*/;,|&^%<>=]+ ?\(? ?(?:" + _SINKS + r") ?[(`\[]"
        r"|\b(?:alert|set(?:timeout|interval)|btoa|atob|execscript|importscripts) ?\("
        r"|\b(?:prompt|confirm)\(|\b(?:alert|prompt|confirm|eval) ?`"
        r"|\beval ?\( ?(?:atob|unescape|string|decodeuri|location|name|\w+ ?\.)"
        r"|\b(?:top|self|window|parent|globalthis|this|document) ?\)? ?\[ ?[\"'`]"
        r"|\] ?\. ?\w{1,20} ?\. ?(?:call|apply|bind) ?[`(]|\breflect ?\. ?\w{1,20} ?\."
        r" ?(?:call|apply) ?[`(]|\$\{ ?(?:alert|eval|prompt|confirm)\b|!!?\[\]|\[\] ?\+ ?\[\]"
        r"|<!--|-->|<!\[cdata\[",
        places=INPUTS - {Place.PATH},
    ),
    signature(
        "xss-010",
        "Tag in US-ASCII with the high bit set (\\xbcscript\\xbe, %BCscript%BE)",
        r"(?i)(?:\xc2\xbc|\\xbc|%bc)[^<>]*(?:\xc2\xbe|\\xbe|%be)",
        places=_ANYWHERE,
        view=View.RAW,
    ),
    signature(
        "xss-011",
        "Active tag name spelled with separators between its letters (<f o r m, <s/c/r/i/p/t)",
        r"< ?(?:" + _SPACED_TAGS + r")\b",
        places=_ANYWHERE,
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
        r"|head|html|body) ?>|<[a-z][\w-]{0,20} [^<>]*= ?[^<>]*>"
        r"|<\?xml|<!doctype|<!entity",
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
