"""SQL injection: breaking out of a literal, tautologies, UNION, stacked and blind queries.

Patterns run on `decode.normal()` text (decoded, lower case, comments a space, whitespace
collapsed to one space, so ` ?` stands for any run of whitespace or comments). Every PL1
pattern needs an SQL-shaped context (a quote closing the literal, an operator and an operand,
a keyword pair), so "O'Brien", "select a seat" and "1 or 2 tickets" pass.
"""

from __future__ import annotations

from services.gateway.waf.signatures.rule import Place, Severity, Signature, View, signature, words

_Q = r"['\"`]"  # a quote closing the literal the value was meant to stay inside
_OP = r"(?:\bor\b|\band\b|\bxor\b|\bdiv\b|\|\||&&)"
_CMP = (
    r"(?:=|<>|!=|<=>|<|>|\blike\b|\brlike\b|\bregexp\b|\bsounds like\b|\bbetween\b"
    r"|\bis (?:not )?null\b|\bin ?\()"
)
_FUNCTIONS = words(
    "sleep", "benchmark", "pg_sleep", "extractvalue", "updatexml", "load_file", "ascii",
    "char", "chr", "concat", "concat_ws", "group_concat", "substring", "substr", "mid",
    "hex", "unhex", "version", "database", "user", "current_user", "system_user", "schema",
    "if", "ifnull", "iif", "elt", "make_set", "name_const", "exp", "floor", "rand", "cast",
    "convert", "count", "length", "ord", "md5", "sha1", "randomblob", "dbms_pipe.receive_message",
    "utl_inaddr.get_host_name", "json_keys", "gtid_subset", "polygon", "multipoint",
)  # fmt: skip
# SQL routines no ordinary text calls: `name(` (or `name (`) is an injection tell.
_ROUTINES = words(
    "benchmark", "pg_sleep", "concat", "concat_ws", "group_concat", "database",
    "db_name", "schema_name", "current_user", "session_user", "system_user", "user_name",
    "suser_sname", "extractvalue", "updatexml", "ifnull", "isnull", "nullif", "coalesce",
    "make_set", "name_const", "unhex", "xmltype", "load_file", "char_length",
    "substring_index", "substring", "substr", "nchar", "rtrim", "ltrim",
    "json_extract", "json_keys", "json_object", "sqlite_compileoption_get", "sqlite_version",
    "randomblob", "pg_read_file", "sys_context", "sha1", "sha2", "find_in_set", "lpad", "rpad",
    "strcmp", "chr",
    "last_insert_id", "row_count",
    "found_rows", "connection_id", "uuid_short", "jsonb_pretty", "unistr", "overlay",
    "to_char", "to_number", "bitand", "utl_raw\\.\\w+", "dbms_\\w+", "pg_\\w+", "sqlite_\\w+",
    "xp_\\w+", "sp_\\w+", "regexp_\\w+", "current_database", "inet_server_addr", "query_to_xml",
    "database_to_xml", "array_to_string", "string_agg", "listagg", "xmlagg", "xmlelement",
    "ctxsys\\.\\w+", "ordsys\\.\\w+", "dbms_xmlgen\\.\\w+", "iif", "quotename", "replicate",
    "soundex", "char_length", "hex_to_raw",
)  # fmt: skip
# Routines whose names are also words ("user (optional)", "Sleep (well)"): only `name(`.
_WORDY_ROUTINES = words(
    "sleep", "char", "mid", "ord", "version", "user", "schema", "choose", "stuff", "space",
    "difference", "decode", "encode", "sin", "pow", "rand", "hex", "database", "overlay",
    "unicode", "instr", "elt", "if", "count", "ascii", "length", "md5", "concat",
)  # fmt: skip
_CATALOGUE = words(
    r"information_schema\b", r"pg_catalog\b", r"pg_shadow\b", r"pg_user\b", r"sysobjects\b",
    r"syscolumns\b", r"sysdatabases\b", r"sys\.(?:tables|columns|objects|databases)\b",
    r"sqlite_(?:master|schema|temp_master)\b", r"mysql\.(?:user|db)\b", r"msysaccessobjects\b",
    r"msysobjects\b", r"all_tables\b", r"user_tables\b", r"all_tab_columns\b",
    r"dba_users\b", r"v\$version\b", r"xp_cmdshell\b", r"xp_regread\b", r"xp_dirtree\b",
    r"sp_oacreate\b", r"sp_executesql\b", r"sp_makewebtask\b", r"sp_addlogin\b",
    r"sp_password\b", r"openrowset ?\(", r"opendatasource ?\(", r"load_file ?\(",
    r"into (?:out|dump)file\b", r"utl_http\.", r"utl_inaddr\.", r"dbms_pipe\.",
    r"dbms_java\.", r"load_extension ?\(", r"sqlite_version ?\(", r"pg_read_file ?\(",
    r"pg_ls_dir ?\(", r"lo_import ?\(", r"copy \w+ (?:from|to) program\b",
    r"@@(?:version|datadir|hostname|basedir|tmpdir)\b", r"msdb\b", r"northwind\b", r"tempdb\b",
    r"sysibm\.", r"syscat\.", r"procedure analyse ?\(", r"exec(?:ute)? immediate\b",
    r"declare @\w",
)  # fmt: skip

SIGNATURES: tuple[Signature, ...] = (
    signature(
        "sqli-001",
        "SQL tautology after a closing quote (' or 1=1, \" or 'a'='a, ' or true--)",
        _Q
        + r" ?\)* ?"
        + _OP
        + r" ?\(* ?(?:"
        + _Q
        + r"?[\w.@$]{0,64}"
        + _Q
        + r"? ?"
        + _CMP
        + r"|(?:not )?(?:true|false|null|\d+)\b ?(?:--|#|;|\)|$|"
        + _Q
        + r"))",
    ),
    signature(
        "sqli-002",
        "SQL tautology on numbers (1 or 1=1, 0 and 2>1--, or 2 between 1 and 3)",
        r"(?:^|[\s(\d])" + _OP + r" ?\(* ?-?\d+(?:\.\d+)? ?(?:=|<>|!=|<=>|<|>|\blike\b"
        r"|\bbetween\b) ?\(* ?-?\d+(?:\.\d+)? ?\)* ?(?:$|--|#|;|\)|\b(?:and|or|limit|order"
        r"|union|having|group)\b)",
    ),
    signature(
        "sqli-003",
        "UNION-based SQL injection (union [all] select)",
        r"\bunion\b(?: ?all| ?distinct)?[ (]*select\b",
    ),
    signature(
        "sqli-004",
        "Stacked SQL statement after a terminator (; drop table, ; delete from)",
        r"; ?(?:drop (?:table|database|schema|user|index|view|function|procedure)\b"
        r"|delete from\b|insert into\b|update [\w.`\"\[\]]{1,64} set\b|truncate (?:table )?\w"
        r"|alter (?:table|user|database|login)\b|create (?:table|user|database|function|login)\b"
        r"|exec(?:ute)? (?:xp_|sp_|master\.|immediate)|shutdown\b|declare @|grant \w"
        r"|select\b.{0,100}\bfrom\b|select (?:\*|@@|sleep|pg_sleep|version|load_file|\d)"
        r"|waitfor\b|set @|replace into\b|load data\b|rename table\b|begin\b.{0,40};)",
    ),
    signature(
        "sqli-005",
        "Quote closed then the rest of the statement commented out (admin'--, x\")#)",
        _Q + r"\)*--|" + _Q + r" ?\)* ?(?:--[ -]*$|#.{0,40}$|; ?(?:--|#|$))",
    ),
    signature(
        "sqli-006",
        "Time-based blind SQL injection (sleep(), benchmark(), pg_sleep(), waitfor delay)",
        r"\b(?:sleep|pg_sleep) ?\( ?[\d(]|\bbenchmark ?\( ?\d+ ?,"
        r"|\bwaitfor (?:delay|time) ?" + _Q + r"?\d|\bdbms_lock\.sleep ?\("
        r"|\brandomblob ?\( ?\d{5}",
    ),
    signature(
        "sqli-007",
        "SQL catalogue or dangerous routine (information_schema, xp_cmdshell, into outfile)",
        _CATALOGUE,
    ),
    signature(
        "sqli-008",
        "Sub-select or SQL function injected after a closing quote (' and (select ...)",
        _Q
        + r" ?\)* ?(?:"
        + _OP
        + r"|;|,|\+|-|\*|/|=|\|) ?\(* ?(?:select\b|"
        + _FUNCTIONS
        + r" ?\()",
    ),
    signature(
        "sqli-009",
        "Error-based SQL injection (extractvalue(), updatexml(), exp(~), floor(rand()))",
        r"\b(?:extractvalue|updatexml|name_const|gtid_subset|json_keys|polygon|multipoint"
        r"|geometrycollection|linestring|multilinestring|multipolygon) ?\(.{0,100}(?:select|"
        r"concat|version|user|database|0x|@@|char)"
        r"|\bexp ?\( ?~|\bfloor ?\( ?rand ?\(|\bconvert ?\( ?int ?,|\bcast ?\(.{0,60} as "
        r"(?:int|numeric|char|varchar|signed|unsigned)\b.{0,30}\)",
    ),
    signature(
        "sqli-010",
        "SELECT with an SQL-shaped column list and FROM (select * from, select a,b from)",
        r"\bselect ?(?:\*|@@\w|distinct\b|top \d|count ?\(|concat|group_concat|[\w.`]+ ?, ?"
        r"[\w.`(]+|\w+ ?\(.{0,40}\)|null\b|0x[0-9a-f]|\d+ ?,).{0,100}\bfrom\b",
    ),
    signature(
        "sqli-011",
        "SQL statement shape after a number or quote (1 order by 3--, ' having 1=1)",
        r"(?:" + _Q + r"|\d|\)) ?(?:order by \d+ ?(?:--|#|;|$|,)|group by .{1,40}having\b"
        r"|having \d+ ?= ?\d|procedure analyse\b|limit \d+ ?, ?\d+ ?(?:--|#|$)"
        r"|into @\w|for update\b)",
    ),
    signature(
        "sqli-012",
        "NoSQL (MongoDB) operator injection ($ne, $gt, $where, $regex in names or values)",
        r"(?:^|\[)\$(?:ne|eq|gte?|lte?|n?in|nor|not|or|and|exists|type|mod|regex|where|all"
        r"|size|elemmatch|expr|jsonschema|text|function|accumulator|lookup)\b\]?",
    ),
    signature(
        "sqli-017",
        "SQL routine call (benchmark(, concat(, database(, updatexml(, pg_sleep()",
        r"\b" + _ROUTINES + r" ?\(|\b" + _WORDY_ROUTINES + r"\(",
    ),
    signature(
        "sqli-018",
        "SELECT of a routine, variable or literal (select sleep(, select @@version, select 1,2)",
        r"\bselect\b ?(?:" + _ROUTINES + r"\b|if ?\(|case\b|@@?\w|\* ?from\b|null ?,"
        r"|\d+ ?(?:,|from\b|$|--|#)|[\w.]+ ?(?:as\b ?[\w\"'`]+ ?)?from \w+ ?(?:where|limit"
        r"|order|group|union|--|#|;|$))",
    ),
    signature(
        "sqli-019",
        "SQL conditional, comparison of a sub-expression or cast (case when, if(1=, ::int)",
        r"(?:^|[\s(,=\d'\"`]) ?case when\b.{1,100}\bthen\b|\bi?if ?\( ?[\w'\"]{1,20} ?(?:=|<|>)"
        r"|\) ?(?:like|rlike|regexp|sounds like) ?\(|\bhaving\b ?(?:count|sum|avg|min|max)?"
        r" ?\(?[\w.]{0,40}\)? ?(?:=|<|>|!=)|[\w)'\"] ?::(?:int|integer|bigint|smallint|text"
        r"|numeric|varchar|char|json|jsonb|double precision|regclass|bytea|boolean|float)\b"
        r"|(?:^|[\s(,'\"])\d+ ?as\b ?[\w\"'`]{0,40} ?from\b|\d\.e ?(?:\(|select\b|from\b)",
    ),
    signature(
        "sqli-020",
        "Quote closed into an operator, comment or JSON operator ('or', '*2--, '->'$.a', ';@@)",
        _Q
        + r"(?:or|and|xor|div)"
        + _Q
        + r"|"
        + _Q
        + r"(?:\|\||&&) ?"
        + _Q
        + r"|"
        + _Q
        + r" ?\)* ?"
        + _OP
        + r".{0,60}(?:--|#) ?$"
        + r"|"
        + _Q
        + r" ?[-+*/%|&^] ?\d+ ?(?:--|#)|"
        + _Q
        + r" ?;? ?@@"
        + r"|"
        + _Q
        + r" ?(?:->>?|#>>?|@>|<@|\?[|&]|@\?|#-) ?"
        + _Q
        + r"|"
        + _Q
        + r" ?(?:not )?(?:regexp|rlike)\b",
    ),
    signature(
        "sqli-021",
        "MySQL executable comment or optimizer hint (/*!50000select*/, /*+ hint */)",
        r"/\*!\d{0,5} ?[a-zA-Z(]|/\*\+",
        view=View.RAW,
    ),
    signature(
        "sqli-022",
        "Tautology on a number at the start of the value (1 or true, 9999 or {if ...})",
        r"^ ?-?\d+ ?\)* ?(?:or|and|xor|\|\||&&) ?(?:true|false|null|not\b|\{|\(|@@|select\b)"
        r"|\bchar ?\( ?\d+ ?\) ?(?:\+|\|\||,) ?char ?\(",
    ),
    signature(
        "sqli-023",
        "Float-parsing denial-of-service number (2.2250738585072011e-308, 1e309)",
        r"\b2\.225073858507201[12]e-308\b|^ ?[-+]?1e309$",
        places=frozenset({Place.ARG, Place.ARG_NAME, Place.COOKIE}),
    ),
    # 2 and 4 GiB byte counts, the 32-bit maximum as "no limit" and the unsigned sentinel are
    # ordinary in storage and paging APIs: the boundary probe alone is a PL2 signal.
    signature(
        "sqli-024",
        "Integer boundary value as a whole argument, an overflow probe (2147483648, 4294967296)",
        r"^ ?-?(?:2147483647|2147483648|2147483649|4294967295|4294967296|9223372036854775807"
        r"|9223372036854775808|18446744073709551615)$",
        places=frozenset({Place.ARG, Place.COOKIE}),
        pl=2,
    ),
    signature(
        "sqli-013",
        "Quote closed into SQL operators or keywords (admin' or, 1' union, ')) and (')",
        _Q
        + r" ?\)* ?(?:"
        + _OP
        + r" ?[\w'\"`(]|union\b|select\b|;|\|\|) ?.{0,40}(?:--|#|"
        + _Q
        + r" ?\)* ?(?:=|<|>|"
        + _OP
        + r")|\bselect\b|\(|=)",
        pl=2,
    ),
    signature(
        "sqli-014",
        "Hex-encoded string or CHAR() built string typical of SQL injection (0x61646d696e)",
        r"(?:^|[\s(,=])0x[0-9a-f]{8,}\b|\bchar ?\( ?\d+ ?(?:, ?\d+ ?){2,}\)"
        r"|\bchar ?\( ?\d+ ?\) ?(?:\+|\|\|)",
        pl=2,
    ),
    signature(
        "sqli-015",
        "SQL comment or terminator after a SQL keyword (select--, or 1#, /*!union*/)",
        r"\b(?:union|select|from|where|or|and|having|order by|group by) ?(?:--|#)",
        pl=2,
        severity=Severity.WARNING,
    ),
    signature(
        "sqli-016",
        "Conditional SQL expression (case when ... then, if(1=1,...), iif())",
        r"\bcase when\b.{1,60}\bthen\b|\bi?if ?\( ?[\w'\"]{1,20} ?(?:=|<|>|like)",
        pl=2,
    ),
)
