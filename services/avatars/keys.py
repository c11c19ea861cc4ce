"""The context every avatars handler shares, under one typed key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from pymongo.asynchronous.database import AsyncDatabase

from services.avatars.blobs.base import BlobStore
from services.avatars.cpu import CpuPool
from services.avatars.media import MediaServer
from services.avatars.moderation.blocklist import Blocklist
from services.avatars.settings import AvatarsSettings
from services.avatars.workflow.engine import Workflow
from services.avatars.workflow.notify import Announcer
from services.avatars.workflow.uploads import Uploads
from shared.bus.base import Bus


@dataclass
class Context:
    settings: AvatarsSettings
    db: AsyncDatabase[dict[str, Any]]
    bus: Bus
    uploads: Uploads
    blobs: BlobStore
    pool: CpuPool
    blocklist: Blocklist
    announcer: Announcer
    workflow: Workflow
    media: MediaServer
    clock: Callable[[], datetime]


PROBLEMS = "https://surge.dev/problems/avatars-"
AVATARS_SETTINGS = web.AppKey("avatars_settings", AvatarsSettings)
CONTEXT = web.AppKey("avatars_context", Context)
