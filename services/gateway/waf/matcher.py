"""Every signature in one Hyperscan database, matched against a value in one pass per view.

Hyperscan (a DFA/NFA hybrid) runs all patterns together in time linear in the input and never
backtracks, so no value, however crafted, makes a rule expensive; it also finds the rare value
worth a closer look by its literal factors first, which is the prefilter. A value is scanned
once per distinct view text (its raw form, `decode.normal()`, `decode.command_line()`), and a
match counts only for signatures written for the view it was found in.

The compiled database depends only on the catalogue, so it is built once per process and
shared; each `Matcher` holds its own scratch space (Hyperscan's per-thread working memory),
so a matcher must not be used from two threads at once. Compiling takes seconds, so the
serialized database is kept, keyed by the patterns and the library version, in the user's
cache directory (`$XDG_CACHE_HOME/surge`, private to the user): the next process, or the next
gateway worker, loads it in milliseconds. Images build it once beside this module
(`python -m services.gateway.waf.prebuild`), so no worker compiles at startup; a database
built for another CPU fails to load and is compiled again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import cast

import hyperscan

from services.gateway.waf.decode import MAX_VALUE_CHARS, views
from services.gateway.waf.signatures import SIGNATURES
from services.gateway.waf.signatures.rule import Signature, View

_VIEW_BITS = {view: 1 << index for index, view in enumerate(View)}
_DECODED_BITS = _VIEW_BITS[View.NORMAL] | _VIEW_BITS[View.COMMAND]
_ALL_BITS = _DECODED_BITS | _VIEW_BITS[View.RAW]
# Nothing to decode, fold, unquote or uncomment in such a value (ASCII without `%`, `&`, `\`,
# quotes, `$`, `^`, `*`, control characters or runs of spaces): its normal and command views
# are its lower case, a test holds the decoders to that. Most ids, tokens, paths, dates and
# URLs are such values.
_PLAIN = re.compile(r"[!#(-)+-~]++(?: [!#(-)+-~]++)*+")
_NOT_PLAIN = frozenset("%&\\'\"$^*`")
_FLAGS = hyperscan.HS_FLAG_SINGLEMATCH
logger = logging.getLogger("surge.gateway.waf")


class SignatureError(ValueError):
    pass


_PREBUILT = Path(__file__).with_name("prebuilt")


# (pattern, Hyperscan flags) per signature, in catalogue order (the index is the match id).
Expressions = tuple[tuple[str, int], ...]


def expressions(signatures: Sequence[Signature]) -> Expressions:
    """Decoded views are lower case, so their patterns are compiled caseless: a value whose
    normal view is its own lower case is then scanned once, as received, for every view."""
    return tuple(
        (s.pattern, _FLAGS | (0 if s.view is View.RAW else hyperscan.HS_FLAG_CASELESS))
        for s in signatures
    )


def _cache_files(patterns: Expressions) -> tuple[Path, Path]:
    """Where a database for `patterns` is looked for: built into the image, then cached."""
    key = json.dumps([version("hyperscan"), patterns]).encode()
    name = f"waf-{hashlib.sha256(key).hexdigest()[:32]}.hsdb"
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return _PREBUILT / name, cache_home / "surge" / name


def _load(path: Path) -> hyperscan.Database | None:
    try:
        return hyperscan.loadb(path.read_bytes(), hyperscan.HS_MODE_BLOCK)
    except (OSError, hyperscan.error):
        return None  # absent, unreadable or from another library build: compile instead


def _store(path: Path, database: hyperscan.Database, *, shared: bool = False) -> None:
    """Write atomically (a concurrent worker reads a whole file or none), private to the user
    unless `shared` (an image's copy, read by the service's own user)."""
    try:
        path.parent.mkdir(mode=0o755 if shared else 0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as out:
            out.write(hyperscan.dumpb(database))
        if shared:
            os.chmod(out.name, 0o644)
        os.replace(out.name, path)
    except OSError as exc:
        logger.info("WAF signature database not cached (%s)", exc)


@cache
def compile_database(patterns: Expressions) -> hyperscan.Database:
    prebuilt, cached = _cache_files(patterns)
    for path in (prebuilt, cached):
        if (database := _load(path)) is not None:
            return database
    database = _compile(patterns)
    _store(cached, database)
    return database


def prebuild() -> Path:
    """Compile the catalogue's database beside this module (for container images)."""
    patterns = expressions(SIGNATURES)
    prebuilt, _ = _cache_files(patterns)
    _store(prebuilt, _compile(patterns), shared=True)
    return prebuilt


def _compile(patterns: Expressions) -> hyperscan.Database:
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        database.compile(
            expressions=[pattern.encode() for pattern, _ in patterns],
            ids=list(range(len(patterns))),
            flags=[flags for _, flags in patterns],
        )
    except hyperscan.error as exc:
        raise SignatureError(f"{exc}: {_culprit(patterns)}") from exc
    return database


def _culprit(patterns: Expressions) -> str:
    """The first pattern Hyperscan refuses on its own (its error names no pattern)."""
    for pattern, flags in patterns:
        try:
            hyperscan.Database().compile(expressions=[pattern.encode()], flags=[flags])
        except hyperscan.error:
            return pattern
    return "(only the combination fails)"


def is_plain(value: str) -> bool:
    return _PLAIN.fullmatch(value) is not None and _NOT_PLAIN.isdisjoint(value)


_Context = tuple[int, list[int], set[int]]  # views accepted, each signature's view, found


def _on_match(index: int, _start: int, _end: int, _flags: int, context: object) -> None:
    accepted, views, found = cast(_Context, context)
    if accepted & views[index]:
        found.add(index)


class Matcher:
    def __init__(self, signatures: Sequence[Signature]) -> None:
        self.signatures = tuple(signatures)
        self._database = compile_database(expressions(self.signatures))
        self._scratch = hyperscan.Scratch(self._database)
        self._views = [_VIEW_BITS[s.view] for s in self.signatures]

    def match(self, value: str) -> frozenset[int]:
        """Indexes of the signatures that match `value` in their view."""
        raw = value[:MAX_VALUE_CHARS]
        if is_plain(raw):
            texts = {raw: _ALL_BITS}
        else:
            normalized, command = views(raw)
            decoded = _DECODED_BITS if command is None else _VIEW_BITS[View.NORMAL]
            # The caseless decoded-view patterns see the normal view in the raw text when it
            # is only the raw text in lower case.
            key = raw if normalized == raw.lower() else normalized
            texts = {raw: _VIEW_BITS[View.RAW]}
            texts[key] = texts.get(key, 0) | decoded
            if command is not None:
                texts[command] = texts.get(command, 0) | _VIEW_BITS[View.COMMAND]
        found: set[int] = set()
        for text, accepted in texts.items():
            self._database.scan(
                text.encode("utf-8", "surrogateescape"),
                match_event_handler=_on_match,
                context=(accepted, self._views, found),
                scratch=self._scratch,
            )
        return frozenset(found)
