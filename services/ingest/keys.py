"""Typed keys and the one context object the ingest's handlers share."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from services.ingest.collect.enrich import Enricher
from services.ingest.collect.sink import Sink
from services.ingest.metrics import IngestMetrics
from services.ingest.programs.cache import ProgramCache
from services.ingest.programs.store import ProgramStore
from services.ingest.settings import IngestSettings
from shared.bus.base import Bus

APPLIED_KEPT = 10_000


@dataclass
class Context:
    settings: IngestSettings
    bus: Bus
    programs: ProgramStore
    cache: ProgramCache
    sink: Sink
    enricher: Enricher
    metrics: IngestMetrics
    clock: Callable[[], float]
    # program id -> (version, wall-clock time) of the last change this replica applied
    applied: OrderedDict[str, tuple[int, float]] = field(default_factory=OrderedDict)

    def remember_applied(self, program: str, version: int, at: float) -> None:
        self.applied[program] = (version, at)
        self.applied.move_to_end(program)
        while len(self.applied) > APPLIED_KEPT:
            self.applied.popitem(last=False)


INGEST_SETTINGS = web.AppKey("ingest_settings", IngestSettings)
CONTEXT = web.AppKey("ingest_context", Context)
