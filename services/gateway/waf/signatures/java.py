"""Java injection: Log4Shell lookups, runtime and reflection class names, deserialization
gadgets, expression languages (OGNL, SpEL, EL), Spring4Shell, serialized objects.

Patterns run on `decode.normal()` text except where the encoding is the tell: serialized
objects are recognised by their magic bytes raw or in base64 (case-sensitive, raw view).
"""

from __future__ import annotations

import base64

from services.gateway.waf.signatures.rule import (
    ALL_HEADERS,
    INPUTS,
    Place,
    Signature,
    View,
    signature,
    words,
)

_GADGETS = (
    "clonetransformer", "forclosure", "instantiatefactory", "instantiatetransformer",
    "invokertransformer", "prototypeclonefactory", "prototypeserializationfactory",
    "whileclosure", "chainedtransformer", "constanttransformer", "lazymap", "transformedmap",
    "templatesimpl", "annotationinvocationhandler", "badattributevalueexpexception",
    "priorityqueue", "xmldecoder", "jdbcrowsetimpl", "beancomparator", "tiedmapentry",
    "hashbag", "defaultedmap", "objectfactory", "remoteobjectinvocationhandler",
    "unicastref", "jndirefclient", "groovy.util.expando", "methodclosure",
    "convertedclosure", "c3p0", "mozilla.javascript", "rhino", "spring.beans",
    "commons.beanutils", "commons.collections",
)  # fmt: skip
_BASE64_KEYWORDS = (
    "runtime", "processbuilder", "clonetransformer", "forclosure", "instantiatefactory",
    "instantiatetransformer", "invokertransformer", "prototypeclonefactory",
    "prototypeserializationfactory", "whileclosure", "getruntime", "java.lang",
)  # fmt: skip


def _base64_forms(keyword: str) -> list[str]:
    """The keyword as it appears inside base64 text at each of the three byte alignments,
    in lower case and capitalised (the stable middle of each encoding only)."""
    forms: set[str] = set()
    for word in {keyword, keyword.capitalize()}:
        for shift in range(3):
            encoded = base64.b64encode(b"\x00" * shift + word.encode()).decode()
            # Drop the characters mixed with the neighbouring bytes at each end.
            start = {0: 0, 1: 2, 2: 3}[shift]
            end = (len(word) + shift) // 3 * 4
            middle = encoded[start:end]
            if len(middle) >= 6:
                forms.add(middle)
    return sorted(forms)


_BASE64 = "|".join(form for keyword in _BASE64_KEYWORDS for form in _base64_forms(keyword))
_LOOKUP = r"\$\{ ?(?:\$\{[^}]{0,80}\} ?){0,20}"

SIGNATURES: tuple[Signature, ...] = (
    signature(
        "java-001",
        "Log4Shell JNDI or nested lookup (${jndi:ldap://...}, ${${lower:j}ndi:...})",
        _LOOKUP + r"(?:jndi|j ?\$\{|\$\{[^}]{0,60}\}ndi|[^}]{0,40}:-j\}|lower ?:|upper ?:"
        r"|env ?:|sys ?:|java ?:|date ?:|main ?:|bundle ?:|ctx ?:|docker ?:|k8s ?:"
        r"|log4j ?:|spring ?:|web ?:|event ?:|map ?:|sd ?:|marker ?:|base64 ?:|::-)"
        r"|\$\{[^}]*\$\{[^}]*\}|\bjndi ?: ?(?:ldaps?|rmi|dns|iiop|corba|nds|nis"
        r"|https?) ?:",
        places=INPUTS | ALL_HEADERS | frozenset({Place.URI}),
    ),
    signature(
        "java-002",
        "Java runtime, process or reflection class in a value (java.lang.Runtime, ProcessBuilder)",
        r"\bjava ?\. ?lang ?\. ?(?:runtime|processbuilder|process|system|class|classloader"
        r"|reflect|thread|object)\b|\bprocessbuilder\b|\bruntime ?\. ?getruntime\b"
        r"|\bgetruntime ?\( ?\) ?\. ?exec\b|\.(?:getclass|forname|getmethod|getdeclaredmethod"
        r"|getconstructor|newinstance|invoke|getdeclaredfield|setaccessible) ?\(",
    ),
    signature(
        "java-003",
        "Java class name in a value (java.io.FileInputStream, javax.script, sun.misc)",
        r"\bjava ?\. ?(?:lang|io|nio|net|util|beans|rmi|security|sql|awt|applet|math|text"
        r"|time|lang\.invoke|lang\.reflect) ?\. ?[a-z$_]"
        r"|\bjavax ?\. ?(?:script|naming|management|el|xml|crypto|sql|swing|imageio|print"
        r"|sound|rmi|tools|faces|servlet|jws) ?\. ?[a-z]"
        r"|\b(?:sun ?\. ?(?:misc|reflect|rmi|net|tools|security|nio|awt)|com ?\. ?sun ?\."
        r" ?(?:org|jndi|rowset|crypto|xml|net|imageio|jmx)|jdk ?\. ?(?:jshell|nashorn|internal))"
        r" ?\. ?[a-z]|\b(?:org\.(?:apache\.(?:commons\.(?:collections|beanutils|io)|xalan"
        r"|tomcat|catalina|naming)|springframework\.(?:context|beans|expression|core)"
        r"|codehaus\.groovy|mozilla\.javascript|hibernate|python)|ognl|bsh|groovy\.lang"
        r"|freemarker\.template|com\.opensymphony|com\.mchange|com\.alibaba\.fastjson"
        r"|com\.fasterxml\.jackson\.databind)\.[a-z]",
    ),
    signature(
        "java-004",
        "Java deserialization gadget chain (InvokerTransformer, TemplatesImpl, XMLDecoder)",
        r"\b" + words(*(g.replace(".", r"\.") for g in _GADGETS)) + r"\b",
        places=INPUTS | frozenset({Place.XML}),
    ),
    signature(
        "java-005",
        "Serialized Java object (magic bytes AC ED 00 05, raw, hex or base64 rO0AB)",
        r"\xac\xed\x00\x05|(?i:aced0005)|rO0AB|H4sIAAAAAAAA|KztAAU|\bKs0ABX",
        places=INPUTS | ALL_HEADERS | frozenset({Place.XML}),
        view=View.RAW,
    ),
    signature(
        "java-006",
        "Expression-language injection (OGNL %{...}, SpEL T(java...), #{...}, @java.lang)",
        r"%\{ ?(?:\(|#|@|[\w.]+\()|#_memberaccess|@ognl|ognlcontext|#context\["
        r"|\bt ?\( ?java ?\.|\bnew java\.|@java\.|#\{ ?[^}]*(?:\.getclass|\.forname"
        r"|runtime|processbuilder|\.exec ?\(|java\.)|\$\{ ?[^}]*(?:\.getclass\b"
        r"|\.forname\b|getruntime|processbuilder|\.exec ?\(|\bclass\.classloader"
        r"|request\.getsession|facescontext|applicationscope|pagecontext|\bsessionscope"
        r"|\bheader\[|\bparam\[)|\.getclass ?\( ?\) ?\.",
        places=INPUTS | ALL_HEADERS | frozenset({Place.URI}),
    ),
    signature(
        "java-007",
        "Spring4Shell class loader manipulation (class.module.classLoader.resources...)",
        r"\bclass ?\. ?(?:module ?\. ?)?classloader\b|\[ ?[\"']?classloader|\bclass\[ ?"
        r"[\"']?(?:module|classloader)",
        places=INPUTS | frozenset({Place.URI, Place.ARG_NAME}),
    ),
    signature(
        "java-008",
        "Java keyword hidden in base64 (cnVudGltZQ: 'runtime', 'processbuilder', gadgets)",
        _BASE64,
        places=INPUTS | frozenset({Place.XML}),
        view=View.RAW,
    ),
    signature(
        "java-009",
        "JSP script file upload (shell.jsp, x.jspx) or JSP tags in a value",
        r"\.(?:jspx?|jspf|jsw|jsv|jtml|war)(?:\.|$|\x00|\?| )",
        places=frozenset({Place.FILENAME}),
    ),
    signature(
        "java-010",
        "JSP scriptlet or directive in a value (<% Runtime.getRuntime() %>, <jsp:...>)",
        r"<%[@!=]?\s?(?:page|include|taglib|runtime|new |request\.|out\.|java|string )"
        r"|<jsp ?:|<c ?:(?:import|out|set)\b",
    ),
)
