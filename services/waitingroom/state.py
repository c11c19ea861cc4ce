"""One zone's state machine: the zone log applied in order, deterministically.

Every replica applies the same log and so holds the same state. Decisions of the admission
controller (admit, expire, open) are proposals re-checked here, so even two controllers racing
(a zombie owner after a failover) cannot make `completed + active` exceed capacity or `active`
exceed max_active: a grant that would is simply void.
"""

from __future__ import annotations

import random
from collections import deque

from opentelemetry.trace import SpanContext

from services.waitingroom.places import AFTER_LOTTERY, Note, Outcome, Place, WaitingLine
from services.waitingroom.zone import ZoneConfig
from shared.events.contracts import waitingroom as ops

__all__ = ["Note", "Outcome", "ZoneState"]


class ZoneState:
    def __init__(self, config: ZoneConfig, partition: int, at: float) -> None:
        self.config, self.partition = config, partition
        self.places: dict[str, Place] = {}
        self.line = WaitingLine()
        self.notes: list[Note] = []  # filled by apply; drained by whoever pushes
        self.cause: SpanContext | None = None  # the trace context of the record being applied
        self._reset(at)

    def _reset(self, at: float) -> None:
        self.places.clear()
        self.line.rebuild([])
        self.opened = self.config.opens is None or at >= self.config.opens
        self.paused = self.closed = False
        self.active = self.completed = self.abandoned = self.by_hand = 0
        self.sessions: dict[str, Place] = {}  # admitted places by jti (exempt ones too)
        self.admissions: deque[float] = deque(maxlen=10_000)  # when, for admitted/min
        self.waits: deque[float] = deque(maxlen=1000)  # seconds waited, for median/p95

    @property
    def sold_out(self) -> bool:
        return self.completed >= self.config.capacity

    @property
    def status(self) -> str:
        if self.closed:
            return "closed"
        if self.sold_out:
            return "sold_out"
        if not self.opened:
            return "scheduled"
        return "paused" if self.paused else "open"

    def apply(self, op: ops.Op, number: int, at: float) -> Outcome:
        handler = getattr(self, f"_{op.kind}")
        outcome: Outcome = handler(op, number, at)
        return outcome

    # --- visitors ---
    def _join(self, op: ops.Join, number: int, at: float) -> Outcome:
        place = self.places.get(op.user)
        if place is not None and place.state in ("waiting", "admitted", "completed"):
            place.last_seen = max(place.last_seen, at)
            return Outcome(True, "same_place")
        if self.closed or self.sold_out:
            return Outcome(False, self.status)
        place = Place(op.user, number, op.tier, self.config.tier_rank(op.tier), at, at)
        cause = self.cause
        if cause is not None and cause.trace_flags.sampled:
            place.join = cause  # sampled joins only: two ints per such visitor
        self.places[op.user] = place
        if op.user in self.config.exempt and op.jti is not None:
            place.state, place.exempt, place.jti = "admitted", True, op.jti
            place.admitted_at, place.expires_at = at, at + self.config.session_ttl
            self.sessions[op.jti] = place
            return Outcome(True, "exempt")
        if self.opened:
            place.lottery = AFTER_LOTTERY if self.config.queueing == "lottery" else 0
        self.line.add(place)
        if self.config.queueing != "lottery" or self.opened:
            # The join answer told the visitor this place: only later moves are worth a push
            # (pushing a whole fresh line at the first tick would delay the admissions).
            place.notified_position = self.line.ahead_of(place) + 1
        return Outcome(True, "joined")

    def _leave(self, op: ops.Leave, _number: int, at: float) -> Outcome:
        place = self.places.get(op.user)
        if place is None or place.state not in ("waiting", "admitted"):
            return Outcome(False, "no_place")
        self._drop(place, "left", at)
        return Outcome(True, "left")

    def _renew(self, op: ops.Renew, _number: int, at: float) -> Outcome:
        place = self.places.get(op.user)
        if place is None or place.state != "waiting":
            return Outcome(False, "no_place" if place is None else place.state)
        place.last_seen = max(place.last_seen, at)
        return Outcome(True, "renewed")

    def _complete(self, op: ops.Complete, _number: int, at: float) -> Outcome:
        place = self.places.get(op.user)
        if place is None or place.jti != op.jti:
            return Outcome(False, "unknown_token")
        if place.state == "completed":
            return Outcome(False, "replayed")
        if place.state != "admitted" or (place.expires_at or 0) <= at:
            return Outcome(False, "expired")
        if place.exempt:
            if self.completed + self.active >= self.config.capacity:
                return Outcome(False, "sold_out")
        else:
            self.active -= 1
        self.sessions.pop(op.jti, None)
        self.completed += 1
        place.state = "completed"
        if self.sold_out:
            self.notes.append(Note(None, "sold_out"))
        return Outcome(True, "completed")

    def _drop(self, place: Place, state: str, at: float) -> None:
        if place.state == "waiting":
            self.line.remove(place)
            self.abandoned += 1
        elif place.state == "admitted":
            self.sessions.pop(place.jti or "", None)
            if not place.exempt:
                self.active -= 1
        place.state = "left" if state == "left" else "expired"
        place.last_seen = at

    # --- admin ---
    def _configure(self, op: ops.Configure, _number: int, _at: float) -> Outcome:
        config = ZoneConfig.model_validate(op.config)
        if config.capacity < self.completed + self.active or config.max_active < self.active:
            return Outcome(False, "below_current_use")
        self.config = config
        for place in self.places.values():
            place.tier_rank = config.tier_rank(place.tier)
        self.line.rebuild([p for p in self.places.values() if p.state == "waiting"])
        return Outcome(True, "updated")

    def _control(self, op: ops.Control, _number: int, at: float) -> Outcome:
        if op.action == "reset":
            self._reset(at)
        elif op.action == "close":
            self.closed = True
        else:
            self.paused = op.action == "pause"
        if op.action in ("pause", "close", "resume"):
            event = {"pause": "paused", "close": "closed"}.get(op.action, "resumed")
            self.notes.append(Note(None, event))
        return Outcome(True, op.action)

    def _admit_by_hand(self, op: ops.AdmitByHand, _number: int, _at: float) -> Outcome:
        self.by_hand += op.n
        return Outcome(True, "credited")

    # --- decisions ---
    def _open(self, op: ops.Open, _number: int, _at: float) -> Outcome:
        if self.opened:
            return Outcome(False, "already_open")  # the shuffle happens once
        self.opened = True
        if self.config.queueing == "lottery":
            drawn = sorted(
                (p for p in self.places.values() if p.state == "waiting"), key=lambda p: p.number
            )
            random.Random(op.seed).shuffle(drawn)  # fairness, not secrecy: the seed is random
            for rank, place in enumerate(drawn):
                place.lottery = rank
            self.line.rebuild(drawn)
        return Outcome(True, "opened")

    def _admit(self, op: ops.Admit, _number: int, at: float) -> Outcome:
        admitted = 0
        for grant in op.grants:
            if self.closed or self.paused or not self.opened:
                break
            if self.active >= self.config.max_active:
                break
            if self.completed + self.active >= self.config.capacity:
                break
            place = self.places.get(grant.user)
            if place is None or place.state != "waiting" or grant.jti in self.sessions:
                continue
            self.line.remove(place)
            place.state, place.jti, place.expires_at = "admitted", grant.jti, grant.expires_at
            place.admitted_at = at
            self.sessions[grant.jti] = place
            self.active += 1
            admitted += 1
            self.admissions.append(at)
            self.waits.append(max(0.0, at - place.joined_at))
            waited = round(max(0.0, at - place.joined_at), 3)
            data = {"expires_at": grant.expires_at, "waited": waited}
            self.notes.append(Note(place.user, "admitted", data, place.join, self.cause))
        self.by_hand -= min(self.by_hand, op.by_hand, admitted)
        return Outcome(admitted > 0, "admitted", admitted)

    def _expire_places(self, op: ops.ExpirePlaces, _number: int, at: float) -> Outcome:
        for user, seen in op.places:
            place = self.places.get(user)
            if place is not None and place.state == "waiting" and place.last_seen <= seen:
                self._drop(place, "expired", at)
                self.notes.append(Note(user, "expired", {"reason": "place"}))
        return Outcome(True)

    def _expire_sessions(self, op: ops.ExpireSessions, _number: int, at: float) -> Outcome:
        for jti in op.jtis:
            place = self.sessions.get(jti)
            if place is not None and (place.expires_at or 0) <= at:
                self._drop(place, "expired", at)
                self.notes.append(Note(place.user, "expired", {"reason": "session"}))
        return Outcome(True)
