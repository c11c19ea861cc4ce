"""The request as the detection engine sees it: plain data, no web framework.

Any data plane (aiohttp today, raw httptools protocols tomorrow) builds a `RequestView` from
what it parsed and hands it to `Detector.inspect`. Everything is kept raw (the target is not
percent-decoded, header names keep their case, the body is bytes) because the engine decides
how to decode: decoding earlier would hide the very encodings attackers use.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RequestView:
    method: str
    target: str  # the raw request target: path and query as sent, still percent-encoded
    headers: tuple[tuple[str, str], ...] = ()  # raw (name, value) pairs in the order sent
    body: bytes | None = None  # the (bounded) body prefix to inspect; None when not read
    version: str = "1.1"  # the HTTP version from the request line ("1.0", "1.1", "2")
    # Values by lower-cased name, built once: a dozen checks look headers up by name.
    _index: dict[str, list[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, list[str]] = {}
        for name, value in self.headers:
            index.setdefault(name.lower(), []).append(value)
        object.__setattr__(self, "_index", index)

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), None when absent."""
        values = self._index.get(name) or self._index.get(name.lower())
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        """Every value of header `name` (case-insensitive), in the order sent."""
        return self._index.get(name) or self._index.get(name.lower(), [])

    def header_names(self) -> set[str]:
        """The lower-cased names of the headers sent."""
        return set(self._index)

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased ("" when absent)."""
        value = self.header("content-type") or ""
        return value.split(";", 1)[0].strip().lower()

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        parts = self.target.split("?", 1)
        return parts[1] if len(parts) == 2 else ""
