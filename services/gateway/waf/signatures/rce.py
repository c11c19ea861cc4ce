"""Remote command execution: shell commands chained into a value, Windows shells, Shellshock.

Unix patterns run on `decode.command_line()` text, where quoting and escaping a shell would
strip are already gone (`c''a\\t` is `cat`, `$IFS` a space, a line break a `;`). A command
counts only after a shell separator (`;`, `|`, `&`, a backtick, `$(`) or as a path to a
binary; names that are also English words (cat, find, more) further need shell-shaped
arguments, so "Dogs | cat food" or "A; more text" pass.
"""

from __future__ import annotations

from services.gateway.waf.signatures.rule import (
    ALL_HEADERS,
    INPUTS,
    LINE_BREAK,
    Place,
    Severity,
    Signature,
    View,
    signature,
    words,
)

# Commands no sentence uses as a word: enough on their own after a separator.
_DISTINCT = words(
    "whoami", "uname", "wget", "curl", "netcat", "ncat", "nc", "bash", "zsh", "ksh", "csh",
    "tcsh", "busybox", "sh", "python[23](?:\\.\\d+)?", "php[578]", "nodejs", "socat",
    "telnet", "nslookup", "ifconfig", "ipconfig", "netstat",
    "chmod", "chown", "chgrp", "passwd", "useradd", "usermod", "crontab", "base64", "xxd",
    "hexdump", "mkfifo", "mknod", "nmap", "tftp", "pkill", "killall", "sudo", "systemctl",
    "iptables", "wget2", "lwp-download", "lwp-request", "gcc", "rm -rf", "ls", "pwd",
    "printenv", "sleep \\d", "ping -c", "ping -n", "awk", "gawk", "sed", "xargs",
    "traceroute", "openssl", "powershell",
    "pwsh", "certutil", "bitsadmin", "mshta", "rundll32", "regsvr32", "wmic", "cscript",
    "wscript", "msiexec", "tasklist", "taskkill", "systeminfo", "schtasks", "aptitude",
    "apt-get", "htop", "visudo", "perf", "uconv", "base32", "rmt(?:-tar)?", "bsdtar", "gdb",
    "strace", "ltrace", "trap", "ansible(?:-[a-z]+)?", "chef-[a-z]+", "cscli", "kubectl",
    "iwmi", "regedit", "bcdboot", "bcdedit", "vssadmin", "wevtutil", "netsh", "icacls",
    "takeown", "cmdkey", "nltest", "dsquery", "sqlcmd", "psexec", "nohup", "lastlog(?:in)?",
    "lastb", "faillog", "utmpdump",
)  # fmt: skip
# Commands that are also words: need a shell-shaped argument after them.
_WORDLIKE_NAMES = (
    "cat", "more", "less", "head", "tail", "find", "grep", "egrep", "sort", "echo", "printf",
    "ping", "kill", "who", "w", "uptime", "touch", "cp", "mv", "rm", "ln", "dd", "tar", "zip",
    "unzip", "gzip", "nl", "od", "tac", "rev", "cut", "tr", "wc", "diff", "file", "strings",
    "time", "date", "export", "set", "unset", "eval", "exec", "source", "alias", "history",
    "host", "mount", "df", "du", "free", "top", "last", "finger", "ssh", "scp", "ftp", "mail",
    "java", "make", "git", "svn", "chroot", "nohup", "timeout", "yes", "seq", "expr", "test",
    "type", "which", "whereis", "locate", "dir", "net", "copy", "del", "ver", "start", "call",
    "id", "ps", "env", "dash", "python", "perl", "ruby", "php", "lua", "node", "fetch", "dig",
    "reg", "cd", "column", "fold", "paste", "join", "split", "shred", "install", "links",
    "lynx", "pip", "npm", "docker", "apt", "yum", "dnf", "sc", "at", "tree", "attrib",
)  # fmt: skip
_WORDLIKE = words(*_WORDLIKE_NAMES)
# Those that are also HTTP header names, which signed-request formats list with `;` between
# them (an S3 presigned URL's `X-Amz-SignedHeaders=content-type;host`): a command only with
# an operand after it (and alone they do nothing an attacker wants).
_HEADER_NAMES = ("host", "date")
_WORDLIKE_ALONE = words(*(name for name in _WORDLIKE_NAMES if name not in _HEADER_NAMES))
_SEPARATOR = r"(?:[;|&`\n]|\$\(|\|\||&&|<\(|>\()(?: ?\$\{?\w{1,20}\}?)? ?\(?"
# Programs that run the command after them (time who, nohup sh -c ..., env --version).
_WRAPPERS = r"(?:time|nohup|strace|ltrace|sudo|doas|nice|watch|timeout \d+|exec|xargs|stdbuf)"
_WINDOWS = words(
    "regedit", "reg", "bcdboot", "bcdedit", "net", "netsh", "sc", "schtasks", "taskkill",
    "tasklist", "wmic", "vssadmin", "wevtutil", "cacls", "icacls", "takeown", "attrib",
    "cipher", "format", "diskpart", "bitsadmin", "certutil", "mshta", "rundll32", "regsvr32",
    "cmdkey", "runas", "systeminfo", "ipconfig", "netstat", "nltest", "dsquery", "at",
    "cscript", "wscript", "copy", "del", "move", "type", "dir", "findstr", "xcopy",
    "robocopy", "shutdown", "tree", "tracert", "nslookup", "arp", "route", "start",
)  # fmt: skip
_PATH_PREFIX = r"(?:/(?:usr/)?(?:local/)?s?bin/)?"
# What follows a command when a shell runs it: the end, an operator, or a space and an
# option, path or word then an operator (`id-ID` in a user agent is one word, not `id`).
_OPERAND = r"(?: [-/~.$*?|;&<>`]| [\w.]{1,40}(?: ?$| ?[|;&<>`]))"
_SHELL_ARG = r"(?: ?$| ?[|;&<>`]|" + _OPERAND + ")"
_WRAPPED = (
    _WRAPPERS + r"(?: ?;)? " + _PATH_PREFIX + r"(?:" + _DISTINCT + r"|" + _WORDLIKE + r")(?:\b|$)"
)

SIGNATURES: tuple[Signature, ...] = (
    signature(
        "rce-001",
        "Unix command after a shell separator (; id, | whoami, `uname -a`, $(curl ...))",
        _SEPARATOR + r" ?(?:\{ ?)?" + _PATH_PREFIX + _DISTINCT + r"(?:\b|$)",
        view=View.COMMAND,
    ),
    signature(
        "rce-002",
        "Unix command with shell arguments after a separator (; cat /etc/passwd, | ls -la)",
        _SEPARATOR
        + r" ?"
        + _PATH_PREFIX
        + "(?:"
        + _WORDLIKE_ALONE
        + _SHELL_ARG
        + "|"
        + words(*_HEADER_NAMES)
        + _OPERAND
        + ")",
        view=View.COMMAND,
    ),
    signature(
        "rce-003",
        "Path to a shell or system binary (/bin/sh, /usr/bin/id, cmd.exe)",
        r"(?:^|[\s;|&`(=<>\[{$])/(?:usr/)?(?:local/)?s?bin/[a-z][\w.-]{0,30}\b|^ ?s?bin/[a-z]"
        r"|\b(?:cmd|command|powershell|pwsh|bash|sh)\.(?:exe|com)\b|\bcmd ?/[ck]\b"
        r"|\b(?:system32|syswow64)[/\\]",
        view=View.COMMAND,
    ),
    signature(
        "rce-004",
        "Shell expansion tricks ($(...), ${IFS}, {cat,/etc/passwd}, /???/c?t, <(...))",
        r"\$\( ?[a-z/]|\$\{ ?ifs ?\}|\$ifs\b"
        r"|\{ ?[a-z/.]{0,40} ?, ?[-/.~$\w]{1,80} ?(?:, ?[-/.~$\w]{0,80} ?){0,8}\}"
        r"|/[\w./]{0,40}\[!?[a-z/.]{1,10}\]|\$\{ ?\w{1,20} ?(?:##?|%%?|//?|:\d|:-|:=|:\+|:\?)"
        r"|(?:^|[;|&\s])~[+-]\d*(?:$|[\s/;|&])|(?:^|[;|&\s])!-\d|(?:^|[;|&`\s])\$\{?(?:shell|bash"
        r"|0|sh)\b\}? -c\b|(?:^|[;|&`]) ?alias (?:[-+][a-z]{1,5} )*[\w-]{1,40} ?="
        r"|/[?*]{1,4}/[\w?*]{0,6}[?*][\w?*]{0,6}\b|[<>]\( ?[a-z]|\$\(\(|\$\[ ?\d"
        r"|`(?: ?"
        + _DISTINCT
        + r"\\b| ?"
        + _WORDLIKE
        + r" [-/~.$\\w])[^`]{0,80}`|\$\{[a-z_]{1,20}(?::[-=+?][^}]{0,40}|//?[^}]{0,40})\}"
        r"|\$\{ ?\w{1,20} ?\}[a-z]|\b[a-z]{1,10}\$@[a-z]|\b[a-z]{1,10}\$\{?\d\}?[a-z]",
        places=INPUTS,
    ),
    signature(
        "rce-005",
        "Shellshock function definition in a header or value (() { :; };)",
        r"\( ?\) ?\{",
        places=INPUTS | ALL_HEADERS,
        view=View.RAW,
    ),
    signature(
        "rce-006",
        "Windows command shell syntax (cmd /c, for /f ... do, if exist, %comspec%)",
        r"\bfor(?: ?/[dflr])*(?: ?[\"'][^\"']{0,40}[\"'])? ?%%?[^\s%]{1,30}.{0,100}\bin ?\("
        r".{0,200}\) ?do\b|(?:^|[;&|(])\s?if(?: ?/i)?(?: not)? ?(?:exist|defined|errorlevel"
        r"|cmdextversion)\b|(?:^|[;&|(])\s?if(?: ?/i)?(?: not)? [^;&|]{0,80}(?:==| equ | neq "
        r"| lss | leq | gtr | geq )|%(?:comspec|systemroot|windir|programfiles|appdata"
        r"|userprofile|temp|\w{1,20}:~-?\d+(?:,-?\d+)?)%|\bcmd(?:\.exe)? ?/[ck]\b",
    ),
    signature(
        "rce-007",
        "PowerShell cmdlet or download cradle (Invoke-Expression, IEX, Net.WebClient)",
        r"\b(?:invoke-(?:expression|webrequest|restmethod|command|item|wmimethod|shellcode"
        r"|mimikatz)|iex ?\(|new-object ?(?:-\w+ )?(?:system\.)?net\.webclient"
        r"|downloadstring ?\(|downloadfile ?\(|start-process|get-(?:wmiobject|process|childitem"
        r"|content|item|acl|credential|localuser|ciminstance)|set-(?:executionpolicy|content"
        r"|itemproperty|mppreference)|-encodedcommand\b|-enc [a-z0-9+/=]{20,}|-noprofile"
        r"|-executionpolicy|-windowstyle hidden|add-type|frombase64string|remove-item"
        r"|out-file|test-connection|stop-process|register-scheduledtask|\[system\.convert\])",
    ),
    signature(
        "rce-008",
        "Unix shell reaching sensitive files or networks (cat /etc/passwd, /dev/tcp/, nc -e)",
        r"\b(?:cat|head|tail|more|less|nl|tac|od|xxd|strings|sort|grep|base64|cp|curl|wget)"
        r" [^;|&]{0,40}/(?:etc|proc|root|var|home|tmp|dev)/"
        r"|/dev/(?:tcp|udp)/|\b(?:nc|ncat|netcat) [^;|&]{0,40}-[a-z]*[ec]\b"
        r"|\b(?:bash|sh|zsh) -[a-z]*i\b|\|\s?(?:ba)?sh\b|\b(?:wget|curl) [^;|&]*"
        r"(?:\| ?(?:ba)?sh|-o ?[/~.]|-O\b|--output)|\bbase64 (?:-d|--decode)\b",
        view=View.COMMAND,
    ),
    signature(
        "rce-009",
        "Mail, IMAP or POP3 command injected after a line break (CRLF RCPT TO:, A1 FETCH)",
        r"(?i)" + LINE_BREAK + r"(?:mail from|rcpt to) ?:|" + LINE_BREAK + r"(?:data|quit|rset"
        r"|noop) ?(?:" + LINE_BREAK + r"|$)|" + LINE_BREAK + r"(?:helo|ehlo|vrfy|expn|auth login)"
        r" [\w@.<>&;-]{1,100} ?(?:" + LINE_BREAK + r"|$)"
        r"|" + LINE_BREAK + r"\w{1,10} (?:fetch|select|login|append|store|copy|search|uid"
        r"|capability)\b|" + LINE_BREAK + r"(?:user|pass|retr|dele|list|top|stat) \w",
        places=INPUTS,
        view=View.RAW,
    ),
    signature(
        "rce-010",
        "Unix command alone as a value, or chained with a redirection (id, uname -a, ls -la)",
        r"^ ?" + _PATH_PREFIX + r"(?:whoami|uname(?: -\w+)?|ifconfig|ipconfig|netstat -\w+"
        r"|id ?;|ls -\w+|cat [/~.]|ps -?aux|sleep \d+ ?;|ping -[cn] ?\d|nslookup \S"
        r"|curl \S|wget \S|nc -\w+|(?:ba|k|z|c|tc|da|a)?sh -[a-z]*c\b|powershell\b|cmd(?:\.exe)? /c"
        r"|net (?:user|localgroup|share|view)\b|echo [^;|&]{0,80}(?:>|\|)"
        r"|(?:ansible(?:-[a-z]+)?|chef-[a-z]+|cscli|visudo|bsdtar|gdb|htop|aptitude|strace"
        r"|ltrace|regedit|bcdboot|bcdedit|vssadmin|wevtutil|netsh|certutil|bitsadmin|wmic"
        r"|schtasks|c89|c99)\b|env -{1,2}[a-z]|" + _WRAPPED + r")",
        places=frozenset({Place.ARG, Place.COOKIE, Place.BODY}),
        view=View.COMMAND,
    ),
    signature(
        "rce-015",
        "Windows command with a switch after a separator (& bcdboot /r, ; regedit /E)",
        r"(?:^|[;&|]) ?" + _WINDOWS + r"(?:\.exe)? +/[a-z?]\b|\b(?:c89|c99|gcc|cc) -wrapper\b"
        r"|\bgdb -(?:nx|ex|batch)\b",
        view=View.COMMAND,
    ),
    signature(
        "rce-016",
        "Command run through a wrapper after a separator (; time sh -c, | nohup curl ...)",
        _SEPARATOR + r" ?" + _WRAPPED,
        view=View.COMMAND,
    ),
    signature(
        "rce-011",
        "Upload of a server-side configuration or script file name (.htaccess, web.config)",
        r"(?:^|[/\\])(?:\.htaccess|\.htdigest|\.htpasswd|\.user\.ini|web\.config"
        r"|wp-config[\w.-]*|config(?:_\w+)?\.ya?ml|global\.asa|\.bashrc|\.profile|authorized_keys"
        r"|crontab|\.env|php\.ini|httpd\.conf|nginx\.conf|\.gitconfig)[\s.]*$",
        places=frozenset({Place.FILENAME, Place.ARG, Place.PATH}),
    ),
    signature(
        "rce-012",
        "Unix command word after a separator, any arguments (PL2: ; cat x, | sort)",
        _SEPARATOR + r" ?" + _PATH_PREFIX + _WORDLIKE + r"\b",
        places=INPUTS - {Place.USER_HEADER},  # user agents list locales: "; tr-TR"
        view=View.COMMAND,
        pl=2,
    ),
    signature(
        "rce-013",
        "Shell history expansion or redirection tricks (!-2, !!, >& /dev/, 2>&1)",
        r"(?:^|[;|&\s])!-?\d|(?:^|[;|&\s])!!|[>&]{1,2} ?/dev/(?:null|tcp|udp|stdout)|2 ?> ?& ?1",
        view=View.COMMAND,
        pl=2,
        severity=Severity.WARNING,
    ),
    signature(
        "rce-014",
        "Shellshock in any header (() { :; };)",
        r"\( ?\) ?\{ ?[:;]",
        places=frozenset({Place.HEADER, Place.URI}),
        view=View.RAW,
    ),
)
