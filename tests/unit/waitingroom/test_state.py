"""The zone state machine alone: lottery, tiers, exempt, pause, and (hypothesis) the invariants
under any sequence of commands and decisions, stale or duplicate ones included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.waitingroom.state import ZoneState
from services.waitingroom.zone import ZoneConfig
from shared.events.contracts import waitingroom as ops

pytestmark = pytest.mark.unit
T0 = 1_900_000_000.0


def make(**overrides: object) -> ZoneState:
    values: dict[str, object] = {
        "id": "z",
        "capacity": 5,
        "max_active": 2,
        "admit_per_minute": 60,
        **overrides,
    }
    return ZoneState(ZoneConfig.model_validate(values), 0, T0)


def line(zone: ZoneState) -> list[str]:
    return [place.user for place in zone.line]


def test_lottery_shuffles_the_prequeue_once_into_a_permutation() -> None:
    opens = datetime.fromtimestamp(T0 + 100, UTC)
    zone = make(queueing="lottery", opens_at=opens)
    users = [f"u{i}" for i in range(50)]
    for number, user in enumerate(users):
        zone.apply(ops.Join(user=user), number, T0 + 1)
    assert line(zone) == users  # arrival order until the draw
    assert zone.apply(ops.Open(seed=42), 50, T0 + 100).ok
    drawn = line(zone)
    assert sorted(drawn) == sorted(users)
    assert drawn != users
    zone.apply(ops.Join(user="late"), 51, T0 + 101)
    assert not zone.apply(ops.Open(seed=7), 52, T0 + 102).ok, "the shuffle happens once"
    assert line(zone) == [*drawn, "late"]


def test_higher_tiers_first_then_fifo() -> None:
    zone = make(tiers=["vip", "general"])
    for number, (user, tier) in enumerate([("a", "general"), ("b", "vip"), ("c", "general")]):
        zone.apply(ops.Join(user=user, tier=tier), number, T0)
    assert line(zone) == ["b", "a", "c"]


def test_pause_voids_a_decision_written_before_it_was_seen() -> None:
    zone = make()
    zone.apply(ops.Join(user="a"), 0, T0)
    zone.apply(ops.Control(action="pause"), 1, T0)
    grant = ops.Grant(user="a", jti="j", expires_at=T0 + 60)
    assert zone.apply(ops.Admit(grants=[grant]), 2, T0).count == 0
    assert zone.active == 0
    assert line(zone) == ["a"]


def test_exempt_join_is_admitted_without_a_slot() -> None:
    zone = make(exempt=["boss"], max_active=0)
    assert zone.apply(ops.Join(user="boss", jti="x"), 0, T0).reason == "exempt"
    assert zone.places["boss"].state == "admitted"
    assert zone.active == 0


USERS = [f"u{i}" for i in range(8)]
op_strategy = st.one_of(
    st.builds(ops.Join, user=st.sampled_from(USERS), tier=st.sampled_from(["vip", "general"])),
    st.builds(ops.Leave, user=st.sampled_from(USERS)),
    st.builds(ops.Renew, user=st.sampled_from(USERS)),
    st.builds(ops.Complete, user=st.sampled_from(USERS), jti=st.sampled_from(USERS)),
    st.builds(ops.Control, action=st.sampled_from(["pause", "resume", "close", "reset"])),
    st.builds(ops.AdmitByHand, n=st.integers(1, 3)),
    st.builds(
        ops.Admit,
        grants=st.lists(
            st.builds(
                ops.Grant,
                user=st.sampled_from(USERS),
                jti=st.sampled_from(USERS),  # reused ids too: a racing controller
                expires_at=st.floats(T0, T0 + 100),
            ),
            max_size=6,
        ),
        by_hand=st.integers(0, 3),
    ),
    st.builds(
        ops.ExpirePlaces,
        places=st.lists(st.tuples(st.sampled_from(USERS), st.floats(T0, T0 + 100))),
    ),
    st.builds(ops.ExpireSessions, jtis=st.lists(st.sampled_from(USERS))),
    st.builds(
        ops.Configure,
        config=st.fixed_dictionaries(
            {
                "id": st.just("z"),
                "capacity": st.integers(0, 6),
                "max_active": st.integers(0, 4),
                "admit_per_minute": st.just(60),
                "tiers": st.just(["vip", "general"]),
            }
        ),
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(op_strategy, st.floats(0, 5)), max_size=60))
def test_capacity_and_max_active_always_hold(steps: list[tuple[ops.Op, float]]) -> None:
    zone = make(tiers=["vip", "general"])
    at = T0
    for number, (op, delay) in enumerate(steps):
        at += delay
        zone.apply(op, number, at)
        admitted = [p for p in zone.places.values() if p.state == "admitted" and not p.exempt]
        assert zone.active == len(admitted)
        assert zone.active <= zone.config.max_active
        assert zone.completed + zone.active <= zone.config.capacity
        waiting = [p.user for p in zone.places.values() if p.state == "waiting"]
        assert sorted(line(zone)) == sorted(waiting), "no place lost or duplicated"
        assert len({p.jti for p in admitted}) == len(admitted), "a token is never shared"


def test_position_pushes_are_capped_front_first_and_the_rest_told_later() -> None:
    from services.waitingroom.positions import position_notes

    zone = make(capacity=100, max_active=100)
    for number in range(30):
        zone.apply(ops.Join(user=f"u{number}"), number, T0)
    assert position_notes(zone) == [], "a FIFO visitor already knows the join position"
    grants = [ops.Grant(user=f"u{i}", jti=f"j{i}", expires_at=T0 + 600) for i in range(10)]
    assert zone.apply(ops.Admit(grants=grants), 30, T0 + 1).ok
    first = position_notes(zone, limit=5)
    assert [note.user for note in first] == ["u10", "u11", "u12", "u13", "u14"]
    later = position_notes(zone, limit=100)
    assert [note.user for note in later] == [f"u{i}" for i in range(15, 30)]
    assert position_notes(zone, limit=100) == []
