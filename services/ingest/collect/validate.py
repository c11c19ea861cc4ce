"""Is this hit an event? Checked against the program's core data from the L1 cache."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.events.contracts.ingest import EVENT_TYPE_PATTERN, ID_PATTERN, Program

_ID = re.compile(ID_PATTERN)
_TYPE = re.compile(EVENT_TYPE_PATTERN)
MAX_PARAM_NAME = 64
MAX_PARAM_VALUE = 2048


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str
    errors: list[dict[str, str]] = field(default_factory=list)


def valid_id(program_id: str) -> bool:
    return _ID.match(program_id) is not None


def check(
    program: Program | None,
    program_id: str,
    event_type: str,
    params: Sequence[tuple[str, str]],
    now: float,
    max_params: int,
) -> Rejection | None:
    """None when the hit is a valid event of an active program, else why it is not."""
    if program is None:
        if not program_id:
            return Rejection("missing_program", "the hit names no program", [_field("program")])
        return Rejection("unknown_program", f"no program {program_id[:64]!r}")
    if not _TYPE.match(event_type):
        return Rejection("bad_type", f"event type {event_type[:64]!r} is malformed")
    if not program.active:
        return Rejection("inactive_program", f"program {program.id!r} is paused")
    at = datetime.fromtimestamp(now, UTC)
    if program.starts_at is not None and at < program.starts_at:
        return Rejection("not_started", f"program {program.id!r} starts at {program.starts_at}")
    if program.ends_at is not None and at >= program.ends_at:
        return Rejection("ended", f"program {program.id!r} ended at {program.ends_at}")
    if event_type not in program.event_types:
        return Rejection(
            "type_not_allowed", f"program {program.id!r} does not accept {event_type!r} events"
        )
    if len(params) > max_params:
        return Rejection("too_many_params", f"at most {max_params} parameters")
    for name, value in params:
        if not 0 < len(name) <= MAX_PARAM_NAME or len(value) > MAX_PARAM_VALUE:
            return Rejection(
                "bad_param",
                f"parameter names are 1-{MAX_PARAM_NAME} characters, values at most "
                f"{MAX_PARAM_VALUE}",
                [{"field": f"params.{name[:MAX_PARAM_NAME]}", "message": "too long or empty"}],
            )
    required = program.required_params.get(event_type)
    if required:
        present = {name for name, value in params if value != ""}
        missing = [name for name in required if name not in present]
        if missing:
            return Rejection(
                "missing_params",
                f"{event_type} events of {program.id!r} need {', '.join(missing)}",
                [_field(f"params.{name}") for name in missing],
            )
    return None


def _field(name: str) -> dict[str, str]:
    return {"field": name, "message": "Field required"}
