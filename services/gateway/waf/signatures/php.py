"""PHP injection: code tags, superglobals, dangerous functions, wrappers, object injection.

Patterns run on `decode.normal()` text; names of functions that read as English ("system",
"exec") count only as calls (`name(`), while names no prose uses (`base64_decode`,
`call_user_func`) count alone.
"""

from __future__ import annotations

from services.gateway.waf.signatures.rule import INPUTS, Place, Severity, Signature, signature, words

# Functions whose name alone, in user input, is a strong sign of PHP code.
_HIGH_RISK = words(
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
)  # fmt: skip
# Functions that read as words: only a call counts.
_CALLED = words(
    "system", "exec", "eval", "assert", "include", "require", "fopen", "fwrite", "fread",
    "readfile", "file", "unlink", "rmdir", "mkdir", "copy", "rename", "chmod", "chown",
    "touch", "glob", "scandir", "opendir", "readdir", "unserialize", "serialize", "extract",
    "parse_str", "putenv", "getenv", "mail", "header", "preg_replace", "create_function",
    "array_map", "call_user_func", "var_dump", "print_r", "var_export", "debug_zval_dump",
    "hex2bin", "bin2hex", "strrev", "chr", "ord", "implode", "explode", "str_replace",
    "substr", "strtolower", "strtoupper", "ucfirst", "urldecode", "rawurldecode",
    "htmlspecialchars_decode", "stripslashes", "die", "exit", "printf", "sprintf", "echo",
    "print", "fputs", "fgets", "curl_exec", "curl_init", "simplexml_load_string",
    "session_start", "setcookie", "error_reporting", "ob_start", "is_dir", "is_file",
    "file_exists", "get_object_vars", "func_get_args", "compact", "constant", "define",
    "defined", "function_exists", "method_exists", "class_exists", "iterator_apply",
)  # fmt: skip
_SUPERGLOBALS = (
    r"\$_(?:get|post|cookie|server|env|files|request|session)\b|\$globals\b"
    r"|\$http_(?:raw_post_data|get_vars|post_vars|cookie_vars|server_vars|env_vars"
    r"|post_files|session_vars)\b|\$php_(?:self|auth_user|auth_pw)\b"
)

SIGNATURES: tuple[Signature, ...] = (
    signature(
        "php-001",
        "PHP open or close tag (<?php, <?=, ?>) in a value",
        r"<\?(?:php\b|=|\s|$)|<\?[a-z]{0,3}\s|\[\?php\b|<%=?\s|\?>\s*$|<script language ?= ?"
        r"[\"']?php",
    ),
    signature(
        "php-002",
        "Upload of a PHP script file name (shell.php, x.phtml, x.php5, .phar)",
        r"\.(?:php\d*|phtml|phar|pht|phps|pgif|shtml|inc|hphp|ctp|module)(?:\.|$|\x00|\?| )",
        places=frozenset({Place.FILENAME}),
    ),
    signature(
        "php-003",
        "PHP configuration directive set by the request (allow_url_include=, auto_prepend_file)",
        r"\b(?:allow_url_(?:include|fopen)|auto_(?:append|prepend)_file|disable_functions"
        r"|open_basedir|safe_mode|register_globals|magic_quotes_gpc|suhosin\.\w+|enable_dl"
        r"|file_uploads|display_errors|expose_php|error_log|include_path|cgi\.force_redirect"
        r"|short_open_tag|mail\.add_x_header|session\.save_path|upload_tmp_dir) ?=",
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
        r"\b" + _HIGH_RISK + r"\b",
        places=INPUTS - {Place.USER_HEADER},
    ),
    signature(
        "php-007",
        "PHP function call (system(...), eval(...), unserialize(...), preg_replace(...))",
        r"\b" + _CALLED + r" ?(?:\(|/\*)[^)]{0,400}(?:\)|$)|\b" + _HIGH_RISK + r" ?\(",
    ),
    signature(
        "php-008",
        "Serialized PHP object or array injection (O:8:\"stdClass\":1:{...})",
        r"(?:^|[;{}\"'])(?:[oc]:\+?\d+:\"[\w\\\\]+\":\+?\d+:\{|a:\+?\d+:\{(?:[isdb]:|[oc]:\d+:))",
    ),
    signature(
        "php-009",
        "PHP variable-function or variable-variable call ($f(...), ${'a'}(...), $_[0](...))",
        r"\$[\w\x7f-\xff]{0,40} ?(?:\[[^\]]{0,60}\]|\{[^}]{0,60}\}){0,4} ?\( ?[^)]{0,200}\)"
        r"|\$\{[^}]{1,100}\} ?\(|\$\$[\w{]",
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
        r"\b(?:" + _CALLED[3:-1] + r"|" + _HIGH_RISK[3:-1] + r") ?(?:/\*|#|//)",
        pl=2,
        severity=Severity.WARNING,
    ),
)
