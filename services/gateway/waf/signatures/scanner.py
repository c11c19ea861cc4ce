"""Security scanners and attack tools, known by the User-Agent or headers they send."""

from __future__ import annotations

from services.gateway.waf.signatures.rule import ALL_HEADERS, Signature, signature, words

_TOOLS = words(
    "nikto", "sqlmap", "nmap", "masscan", "zgrab", "zmap", "acunetix", "nessus", "openvas",
    "w3af", "dirbuster", "dirb", "gobuster", "feroxbuster", "ffuf", "wfuzz", "wpscan",
    "joomscan", "droopescan", "whatweb", "arachni", "skipfish", "paros", "burp ?suite",
    "burpcollaborator", "owasp zap", "zaproxy", "netsparker", "appscan", "webinspect",
    "qualys", "nuclei", "jaeles", "xsstrike", "commix", "havij", "pangolin", "bsqlbf",
    "brutus", "hydra", "medusa", "grabber", "vega", "wapiti", "nsauditor", "webshag",
    "morfeus", "zmeu", "jorgee", "struts-pwn", "fimap", "dotdotpwn", "blackwidow",
    "cgichk", "webtrends security", "n-stealth", "mysqloit", "sf/", "sitelock", "httperf",
    "absinthe", "bilbo", "crimscanner", "floodgate", "metis", "nasl", "nuclei", "webvulnscan",
    "webbandit", "whcc", "dragostea", "pmafind", "muieblackcat", "masscan-ng", "interactsh",
    "sqlninja", "sqlsus", "teh forest lobster", "x-scan", "xenu", "zollard", "jbrofuzz",
)  # fmt: skip

SIGNATURES: tuple[Signature, ...] = (
    signature(
        "scanner-001",
        "Security scanner or attack tool User-Agent (nikto, sqlmap, nmap, masscan, nuclei)",
        r"\b" + _TOOLS + r"\b",
        places=ALL_HEADERS,
    ),
    signature(
        "scanner-002",
        "Scanner probe header or callback domain (x-scanner, acunetix-product, oast.*)",
        r"\b(?:acunetix-(?:product|scanning-agreement|user-agreement)|x-scanner|x-wipp"
        r"|x-request-memo|x-requestmanager-memo|bxss\.me|\w+\.oast\.(?:pro|live|site|online"
        r"|fun|me)|\w+\.burpcollaborator\.net|\w+\.interact\.sh|\w+\.dnslog\.cn)\b",
    ),
)
