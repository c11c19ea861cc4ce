"""PHP injection: code tags, superglobals, dangerous functions, wrappers, object injection.

Patterns run on `decode.normal()` text; names of functions that read as English ("system",
"exec") count only as calls (`name(`), while names no prose uses (`base64_decode`,
`call_user_func`) count alone.
"""

from __future__ import annotations

from services.gateway.waf.signatures.rule import (
    INPUTS,
    Place,
    Severity,
    Signature,
    View,
    signature,
    words,
)

# Functions whose name alone, in user input, is a strong sign of PHP code.
_HIGH_RISK_NAMES = (
    "base64_decode", "base64_encode", "bzdecompress", "call_user_func(?:_array)?",
    "call_user_method(?:_array)?", "convert_uudecode", "create_function", "file_get_contents",
    "file_put_contents", "fsockopen", "pfsockopen", "get_(?:class_methods|class_vars"
    "|defined_(?:constants|functions|vars)|cfg_var|current_user)", "gzdecode", "gzinflate",
    "gzuncompress", "include_once", "require_once", "invokeargs", "pcntl_exec", "pcntl_fork",
    "posix_(?:getcwd|getpwuid|getuid|uname|kill|setuid|mkfifo|getpwnam)", "proc_open",
    "proc_nice", "proc_terminate", "shell_exec", "str_rot13", "sys_get_temp_dir",
    "wp_remote_(?:fopen|get|head|post|request)", "wp_safe_remote_(?:fopen|get|head|post"
    "|request)", "move_uploaded_file", "php_uname", "phpinfo", "passthru", "popen",
    "stream_socket_client", "assert_options", "ini_set", "ini_get_all", "set_time_limit",
    "ignore_user_abort", "disk_free_space", "symlink", "highlight_file", "show_source",
    "php_strip_whitespace", "apache_child_terminate", "apache_setenv", "__halt_compiler",
    "reflectionfunction", "array_map", "array_filter", "array_walk", "usort", "uasort",
    "preg_replace_callback", "register_shutdown_function", "register_tick_function",
    "forward_static_call(?:_array)?", "openlog", "mb_ereg_replace", "odbc_exec", "dl",
    "zlib_decode", "zlib_encode", "gzdeflate", "gzcompress", "gzencode", "bzcompress",
    "gzopen", "gzfile", "bzopen", "escapeshellcmd", "escapeshellarg",
)  # fmt: skip
_HIGH_RISK = words(*_HIGH_RISK_NAMES)
# The snake_case ones read as code wherever they appear; the others only when called.
_NAMED = words(*(name for name in _HIGH_RISK_NAMES if "_" in name))
# PHP functions only code calls: any call counts.
_CALLED = words(
    "intval", "floatval", "strval", "boolval", "settype", "unpack", "strip_tags",
    "addslashes", "nl2br", "is_array", "is_numeric", "in_array", "sizeof", "fopen", "fwrite",
    "fread", "readfile", "unlink", "rmdir", "mkdir", "scandir", "opendir", "readdir",
    "unserialize", "serialize", "parse_str", "putenv", "getenv", "preg_replace",
    "create_function", "array_map", "call_user_func", "var_dump", "print_r", "var_export",
    "debug_zval_dump", "hex2bin", "bin2hex", "strrev", "implode", "explode", "str_replace",
    "strtolower", "strtoupper", "ucfirst", "urldecode", "rawurldecode",
    "htmlspecialchars_decode", "stripslashes", "sprintf", "fputs", "fgets", "curl_exec",
    "curl_init", "simplexml_load_string", "session_start", "setcookie", "error_reporting",
    "ob_start", "is_dir", "is_file", "file_exists", "get_object_vars", "func_get_args",
    "function_exists", "method_exists", "class_exists", "iterator_apply", "filegroup",
    "fileowner", "fileperms", "fileinode", "filemtime", "fpassthru", "fscanf", "vsprintf",
)  # fmt: skip
# Functions named like words ("eval(x)" in prose): a call counts with a PHP-shaped argument
# (a variable, a string, a nested call) or as a statement ending in `;`.
_WORD_CALLED = words(
    "system", "exec", "eval", "assert", "include", "require", "file", "copy", "rename",
    "chmod", "chown", "touch", "glob", "extract", "mail", "header", "chr", "ord", "substr",
    "die", "exit", "printf", "echo", "print", "count", "compact", "constant", "define",
    "defined", "pack",
)  # fmt: skip
_PHP_ARGUMENT = r" ?\( ?(?:[$'\"`]|\w+ ?\(|[^)]*\) ?;|\))"
# Word-like functions called with any argument and no space ("system(whoami)"); "eval" and
# "assert" keep needing a PHP-shaped argument: "eval(x)" is common in prose about code.
_TIGHT_CALLED = words(
    *(name for name in _WORD_CALLED[3:-1].split("|") if name not in ("eval", "assert"))
)
# Families of PHP functions by prefix (is_array, str_replace, preg_match, odbc_exec...).
_FAMILIES = (
    r"\b(?:array|str|preg|mb|ctype|odbc|mysqli?|pg|posix|proc|ftp|curl|stream|gz|bz|zip|xml"
    r"|json|file|ob|ini|get|set|is|call|func|create|var|print|session|socket|openssl|hash"
    r"|mcrypt|iconv|exif|image|imagick|ldap|dba|sqlite|oci|mssql|filter|spl|apache|highlight"
    r"|php|zend|debug|error|assert|class|method|property|iterator|html|base64|uniq|mt|random"
    r"|http|header|url|stripslashes|strip|parse|escapeshell|pcntl|shm|sem|msg|runkit|ssh2"
    r"|gnupg|simplexml|dom|libxml|xsl|bin|dechex|hex|fs|fsock|date|tidy|timezone|gmp|bc|intl"
    r"|grapheme|normalizer|collator|numfmt|msgfmt|datefmt|transliterator|sodium|xmlrpc"
    r"|xmlwriter|xmlreader|finfo|enchant|ftok|lzf|zlib|readline|pspell|recode|yaml|igbinary"
    r"|msgpack|apcu?|opcache|mysqlnd|pdo|sql|odbc)_[a-z0-9_]{2,40}\("
)
# php.ini directives a request has no business setting (memory_limit=, opcache.*=).
_INI = (
    r"\b(?:(?:opcache|mbstring|session|zend|xdebug|apc|apcu|pcre|mysqli|pdo_mysql|assert"
    r"|zlib|soap|sqlite3|phar|mail|filter|intl|iconv|exif|bcmath|highlight|user_ini"
    r"|realpath_cache|cli_server|curl|openssl|ldap|suhosin|date|url_rewriter)\.[a-z_]{3,40}"
    r"|memory_limit|max_execution_time|max_input_(?:time|vars|nesting_level)|post_max_size"
    r"|upload_max_filesize|unserialize_max_depth|serialize_precision|default_charset"
    r"|default_mimetype|error_reporting|log_errors|html_errors|track_errors|output_buffering"
    r"|output_handler|implicit_flush|zend_extension|extension_dir|doc_root|user_dir"
    r"|variables_order|request_order|register_argc_argv|auto_globals_jit"
    r"|default_socket_timeout|sys_temp_dir|unserialize_callback_func|allow_url_(?:include|fopen)"
    r"|auto_(?:append|prepend)_file|disable_(?:functions|classes)|open_basedir|safe_mode\w*"
    r"|register_globals|magic_quotes_\w+|enable_dl|file_uploads|display_(?:startup_)?errors"
    r"|expose_php|error_log|include_path|cgi\.\w+|short_open_tag|upload_tmp_dir"
    r"|max_file_uploads|arg_separator\.\w+|auto_detect_line_endings|user_agent"
    r"|ignore_repeated_errors|report_memleaks|xmlrpc_errors|docref_root|enable_post_data_reading"
    r"|hard_timeout|realpath_cache_size|pcre\.jit|precision|engine|extension|smtp|smtp_port"
    r"|sendmail_(?:path|from)) ?= ?[\w\"'./-]"
)
_SUPERGLOBALS = (
    r"\$_(?:get|post|cookie|server|env|files|request|session)\b|\$globals\b"
    r"|\$http_(?:raw_post_data|get_vars|post_vars|cookie_vars|server_vars|env_vars"
    r"|post_files|session_vars)\b|\$php_(?:self|auth_user|auth_pw)\b"
)

SIGNATURES: tuple[Signature, ...] = (
    signature(
        "php-001",
        "PHP open tag (<?php, <?=, <? ) or template PHP tag ([php], {php}) in a value",
        r"(?i)<\?(?:php\b|=|\s|$)|\[\?php\b|<%=?\s|<script\s+language\s*=\s*[\"']?php"
        r"|[\[{]\s*[/\\]?\s*php\s*[\]}]|<\?xml(?:[^\sa-z?-]|\s+[^a-z\s?])",
        view=View.RAW,
    ),
    signature(
        "php-002",
        "Upload of a PHP script file name (shell.php, x.phtml, x.php5, .phar)",
        r"\. ?(?:php\d*|phtml|phar|pht|phps|phpt|pgif|shtml|inc|hphp|ctp|module)(?:[.\s?\x00]|$)"
        r"|(?:^|[/\\])sess_[\w,-]{10,}",
        places=frozenset({Place.FILENAME}),
    ),
    signature(
        "php-003",
        "PHP configuration directive set by the request (allow_url_include=, auto_prepend_file)",
        _INI,
        places=INPUTS | frozenset({Place.URI}),
    ),
    signature(
        "php-004",
        "PHP superglobal or request variable ($_GET, $_SERVER, $GLOBALS, $HTTP_RAW_POST_DATA)",
        _SUPERGLOBALS,
    ),
    signature(
        "php-005",
        "PHP I/O stream or wrapper (php://input, php://filter, data://, expect://)",
        r"\b(?:php ?: ?/ ?/ ?(?:std(?:in|out|err)|input|output|fd|memory|temp|filter)"
        r"|(?:expect|phar|zlib|glob|ogg|rar|ssh2\.\w+|compress\.(?:zlib|bzip2)) ?: ?/ ?/"
        r"|data ?: ?/ ?/ ?[\w/+-]{1,60} ?[;,])",
    ),
    signature(
        "php-006",
        "High-risk PHP function name (base64_decode, call_user_func, shell_exec, phpinfo)",
        r"\b" + _NAMED + r"\b",
        places=INPUTS - {Place.USER_HEADER},
    ),
    signature(
        "php-007",
        "PHP function call (system(...), eval(...), unserialize(...), preg_replace(...))",
        r"\b"
        + _CALLED
        + r"(?: ?(?:#|//)[^(]{0,60})? ?\([^)]*(?:\)|$)|\b"
        + _WORD_CALLED
        + r"(?: ?(?:#|//)[^(]{0,60})?"
        + _PHP_ARGUMENT
        + r"|"
        + _HIGH_RISK
        + r" ?\(|"
        + _FAMILIES
        + r"|[\"'`] ?(?:"
        + _CALLED
        + r"|"
        + _WORD_CALLED
        + r") ?[\"'`] ?\(|\( ?(?:"
        + _CALLED
        + r"|"
        + _WORD_CALLED
        + r") ?\) ?\(|\b(?:system|exec|passthru|shell_exec|eval|assert|popen|proc_open"
        r"|pcntl_exec|phpinfo)\b ?[\"'`\]) ][^(]{0,40}\( ?[\w$'\"/. -]{0,40}\) ?;",
    ),
    signature(
        "php-008",
        'Serialized PHP object or array injection (O:8:"stdClass":1:{...})',
        r"(?:^|[;{}\"'])(?:[oc]:\+?\d+:\"[\w\\\\]+\":\+?\d+:\{|a:\+?\d+:\{(?:[isdb]:|[oc]:\d+:))",
    ),
    signature(
        "php-009",
        "PHP variable-function or variable-variable call ($f(...), ${'a'}(...), $_[0](...))",
        r"\$[\w\x7f-\xff]{0,40}(?: ?\[[^\]]{1,60}\]{1,3}| ?\{[^}]{1,60}\}){0,6} ?\( ?[^)]*\)"
        r"|\$\{[^}]+\} ?\(|\$\$[\w{]|\$ ?\{ ?(?:['\"]|\$)|\$ \{",
        places=INPUTS,
    ),
    signature(
        "php-010",
        "PHP call of a string, concatenated name or array element ('sys'.'tem')('id');",
        r"\( ?[\"'][\w\\\\]{2,40}[\"'] ?(?:\. ?[\"'][\w\\\\]{1,40}[\"'] ?){0,8}\) ?\("
        r"|[\"'][a-z_]{1,20}[\"'] ?\. ?[\"'][a-z_]{1,20}[\"'] ?(?:\. ?[\"'][a-z_]{1,20}[\"'] ?)*"
        r"\) ?\(|\b(?:eval|assert|system|exec|passthru) ?\( ?(?:\$|base64|str_rot13|gz|chr|\"|')"
        r"|\w\) ?\( ?[\"'][^\"']{0,60}[\"'] ?\) ?;|\[ ?\d+ ?\] ?\( ?[\"']",
    ),
    signature(
        "php-011",
        "PHP function name followed by a comment or whitespace before its call (phpinfo/**/())",
        r"\b(?:" + _CALLED + r"|" + _WORD_CALLED + r"|" + _HIGH_RISK + r") ?(?:/\*|#|//)",
        pl=2,
        severity=Severity.WARNING,
    ),
)
