"""The program a hit names: from the L1 cache, or its one store read (single flight)."""

from __future__ import annotations

from services.ingest.collect.sink import UnavailableError
from services.ingest.collect.validate import valid_id
from services.ingest.keys import Context
from shared.events.contracts.ingest import Program


async def program_for(ctx: Context, program_id: str) -> Program | None:
    if not valid_id(program_id):
        return None  # malformed ids never reach the cache or the store
    entry = ctx.cache.cached(program_id)
    if entry is not None:
        return entry.program
    try:
        return await ctx.cache.get(program_id)
    except Exception:
        raise UnavailableError("the program store cannot be read") from None
