"""Positions, people ahead and the estimated wait, and when a move is worth a push."""

from __future__ import annotations

from services.waitingroom.places import Place
from services.waitingroom.state import Note, ZoneState

WINDOW_SECONDS = 60.0


def admitted_per_minute(zone: ZoneState, now: float) -> float:
    """Admissions in the last minute (the measured rate; see eta_seconds)."""
    since, count = now - WINDOW_SECONDS, 0
    for at in reversed(zone.admissions):  # newest first: stop at the first older one
        if at < since:
            break
        count += 1
    return float(count)


def eta_seconds(zone: ZoneState, ahead: int, now: float) -> float | None:
    """People ahead divided by the measured admission rate (the configured one before any)."""
    rate = admitted_per_minute(zone, now) or zone.config.admit_per_minute
    if rate <= 0:
        return None
    return round((ahead + 1) * 60.0 / rate, 1)


def position(zone: ZoneState, place: Place) -> int | None:
    """1-based place in line; None while a lottery pre-queue is not drawn yet."""
    if place.state != "waiting":
        return None
    if zone.config.queueing == "lottery" and not zone.opened:
        return None
    return zone.line.ahead_of(place) + 1


def meaningful(old: int | None, new: int) -> bool:
    """A push when the position moved by at least 10% (at least one place near the front)."""
    if old is None:
        return True
    return abs(old - new) >= max(1, old // 10)


def position_notes(zone: ZoneState, limit: int | None = None) -> list[Note]:
    """One pass over the line: notes for the visitors whose position moved meaningfully, front
    first, at most `limit` of them. Positions are hints (status always has the exact figure);
    a capped stream keeps a long line's moves from delaying the admissions queued behind them
    at the notifier. Those skipped keep their old figure and are told on a later tick."""
    notes: list[Note] = []
    if zone.config.queueing == "lottery" and not zone.opened:
        return notes
    for index, place in enumerate(zone.line):
        new = index + 1
        if limit is not None and len(notes) >= limit:
            break
        if meaningful(place.notified_position, new):
            place.notified_position = new
            notes.append(Note(place.user, "position", {"position": new, "ahead": index}))
    return notes
