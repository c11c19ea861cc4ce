"""Local file inclusion: climbing out of the web root and naming well-known system files.

Patterns run on `decode.normal()` text (so `..%2f`, `%252e%252e/` and `..%c0%af` read `../`)
and on the raw target where the encoding itself is the tell. One `../` alone is ordinary
relative linking ("../README.md") and passes; two levels, or a climb towards a system
directory, does not.
"""

from __future__ import annotations

from services.gateway.waf.signatures.rule import (
    INPUTS,
    Place,
    Signature,
    View,
    signature,
    words,
)

_UP = r"\.{2,3}(?:[/\\]|;/|%2f|%5c)"
_SYSTEM_FILES = words(
    r"/etc/(?:passwd|shadow|group|hosts|issue|hostname|motd|crontab|sudoers|fstab|resolv\.conf"
    r"|mysql|apache2|httpd|nginx|ssh|ssl|security|profile|bashrc|environment|inittab|netplan"
    r"|network|os-release|lsb-release|redhat-release|debian_version|gshadow|master\.passwd"
    r"|pwd\.db|spwd\.db|init\.d|rc\.d|cron\.\w+|php\w*/|nsswitch)",
    r"/proc/(?:self|\d+|version|cpuinfo|meminfo|mounts|net|sched_debug|cmdline|environ"
    r"|interrupts|kcore|kallsyms|modules|partitions|swaps|stat|uptime|loadavg|devices"
    r"|filesystems|sys|bus|driver|tty|fs|irq|keys|crypto)\b",
    r"/sys/(?:class|kernel|devices|block|bus|firmware|module|power|fs|dev)\b",
    r"\.(?:sql|bak|old|backup|dump|db|sqlite)\.(?:zip|gz|tar|tgz|rar|7z|bz2|xz)\b",
    r"/var/(?:log|mail|spool|run|lib/mysql|www/html/\.)/", r"/root/", r"/home/\w+/\.",
    r"\b(?:win|boot|system|php|desktop)\.ini\b", r"\bc: ?[/\\](?:windows|winnt|inetpub|boot)",
    r"\bwindows[/\\]system32\b", r"\bsystem32[/\\]", r"\bwin\.ini\b", r"\bsam\b.{0,20}config",
    r"\b(?:\.htaccess|\.htpasswd|\.htdigest|web\.config|wp-config\.php|\.user\.ini)\b",
    r"/\.(?:ssh|aws|git|svn|hg|bzr|docker|kube|gnupg|env)\b", r"\bid_(?:rsa|dsa|ecdsa|ed25519)\b",
    r"\.(?:bash|zsh|sh|mysql|psql|python|node_repl)_history\b", r"/dev/(?:tcp|udp|fd|stdin)/",
    r"\bboot\.ini\b", r"\bautoexec\.bat\b", r"\bweb-inf/", r"\bmeta-inf/",
    r"^ ?[<>] ?/(?:tmp|var|etc|dev|proc)/",
)  # fmt: skip
_RESTRICTED_PATHS = words(
    r"/\.(?:git|svn|hg|bzr|cvs|env|aws|ssh|docker|kube|idea|vscode|ds_store|npmrc|pypirc"
    r"|netrc|htaccess|htpasswd|user\.ini|well-known/\.\.)\b",
    r"/(?:web|wp-config|config|database|settings|secrets?|credentials)\.(?:config|php|ya?ml"
    r"|json|ini|xml|bak|old|sql)\b",
    r"/(?:web-inf|meta-inf)\b", r"/(?:composer|package-lock|yarn)\.lock\b",
    r"/(?:\.env(?:\.\w+)?|dockerfile|docker-compose\.ya?ml|phpinfo\.php)$",
)  # fmt: skip

# Headers carry paths legitimately (Referer, X-Original-URL) and are left to other rules.
_PLACES = INPUTS - {Place.USER_HEADER}

SIGNATURES: tuple[Signature, ...] = (
    signature(
        "lfi-001",
        "Path traversal (../../ climbing out of the web root)",
        r"(?:" + _UP + r"){2,}|(?:^|[/\\=:])" + _UP + r".{0,200}\b(?:etc|windows|winnt|proc"
        r"|boot|var|usr|root|home|tmp|dev|sys|bin|opt|inetpub|system32|web-inf)\b"
        r"|(?:^|[/\\])\.{2,3}(?:[/\\]\.{0,3}){2,}|[/\\]\.{2,3}$|^\.{2,3}$|\.{2}\\\\"
        r"|(?:^|[/\\=:;])\.{2,3}\\|\.\.;[/\\.]|(?:^|[/\\])\.{2}[/\\]\.[a-z_]",
        places=_PLACES,
    ),
    signature(
        "lfi-002",
        "Well-known sensitive system file (/etc/passwd, /proc/self/environ, win.ini, .htaccess)",
        _SYSTEM_FILES,
        places=_PLACES,
    ),
    signature(
        "lfi-003",
        "Encoded or overlong path traversal in the raw request (%2e%2e/, ..%c0%af, %u002e)",
        r"(?i)(?:%(?:25)*2e(?:%(?:25)*2e|\.)|\.%(?:25)*2e)(?:%(?:25)*(?:2f|5c)|%c0%af|%c1%9c"
        r"|%e0%80%af|%u2215|%u2216|%uff0f|/|\\)|\.\.(?:%(?:25)*(?:2f|5c)|%c0%af|%c1%9c|%e0%80%af"
        r"|%u2215|%u2216|%uff0f)|%(?:25)*c0%(?:25)*ae|%u002e%u002e|%(?:25)*(?:2e){2}",
        places=frozenset({Place.URI, Place.BODY, Place.ARG, Place.COOKIE}),
        view=View.RAW,
    ),
    signature(
        "lfi-004",
        "Request for a restricted file or directory (/.git/, /.env, web.config, WEB-INF)",
        _RESTRICTED_PATHS,
        places=frozenset({Place.PATH}),
    ),
)
