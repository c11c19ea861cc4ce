"""Program core data: the admin API, and every change pushed to every replica's L1 cache over
the compacted `programs.changes` topic (a new replica warms its cache from it)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.ingest_support import ADMIN, program_body, running_ingest

pytestmark = pytest.mark.integration


async def test_a_change_reaches_both_replicas_and_a_new_one_warms_from_the_topic(
    kafka_env: str, unique: str
) -> None:
    program = f"p{unique}"
    async with running_ingest() as one, running_ingest() as two:
        created = await one.put_program(program, name="v1")
        await two.wait_cached(program, created["version"])
        assert two.ctx.cache.stats.loads == 0  # pushed, never read from the store
        started = time.time()
        changed = await two.put_program(program, name="v2", active=False)
        for replica in (one, two):
            await replica.wait_cached(program, changed["version"])
            entry = replica.ctx.cache.cached(program)
            assert entry is not None
            assert entry.program is not None
            assert (entry.program.name, entry.program.active) == ("v2", False)
        view = await (
            await one.http.get(f"/ingest/admin/programs/{program}/cache", headers=ADMIN)
        ).json()
        assert view["applied_version"] == changed["version"]
        assert started <= view["applied_at"] < time.time()
        async with running_ingest() as three:  # warmed by the replay, before any hit
            entry = three.ctx.cache.cached(program)
            assert entry is not None
            assert entry.version == changed["version"]
            assert three.ctx.cache.stats.loads == 0
        deleted = await one.http.delete(f"/ingest/admin/programs/{program}", headers=ADMIN)
        assert deleted.status == 204
        async with asyncio.timeout(20):
            while (entry := two.ctx.cache.cached(program)) is None or entry.program is not None:
                await asyncio.sleep(0.02)


async def test_the_admin_api_validates_and_guards_programs(kafka_env: str, unique: str) -> None:
    program = f"p{unique}"
    async with running_ingest() as ingest:
        http = ingest.http
        assert (await http.get("/ingest/admin/programs")).status == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert (
            await http.put(f"/ingest/admin/programs/{program}", json=program_body(), headers=wrong)
        ).status == 401
        created = await http.post(
            "/ingest/admin/programs", json={"id": program, **program_body()}, headers=ADMIN
        )
        assert created.status == 201, await created.text()
        again = await http.post(
            "/ingest/admin/programs", json={"id": program, **program_body()}, headers=ADMIN
        )
        assert again.status == 409
        bad = program_body(
            redirect_domains=["not a host"], event_types=[], starts_at="2026-01-01T00:00:00"
        )
        invalid = await http.put(f"/ingest/admin/programs/{program}", json=bad, headers=ADMIN)
        assert invalid.status == 422
        fields = {e["field"] for e in (await invalid.json())["errors"]}
        assert fields == {"redirect_domains", "event_types", "starts_at"}
        assert (
            await http.put("/ingest/admin/programs/Bad%20Id", json=program_body(), headers=ADMIN)
        ).status == 400
        assert (
            await http.put(f"/ingest/admin/programs/{program}", data=b"{", headers=ADMIN)
        ).status == 400
        listed = await (
            await http.get("/ingest/admin/programs?advertiser=acme&limit=1000", headers=ADMIN)
        ).json()
        assert program in [p["id"] for p in listed["programs"]]
        got = await (await http.get(f"/ingest/admin/programs/{program}", headers=ADMIN)).json()
        assert got["redirect_domains"] == ["shop.example"]
        assert (await http.get(f"/ingest/admin/programs/x{unique}", headers=ADMIN)).status == 404
        assert (await http.delete(f"/ingest/admin/programs/x{unique}", headers=ADMIN)).status == 404
