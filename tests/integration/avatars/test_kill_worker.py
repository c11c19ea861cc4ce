"""A workflow worker SIGKILLed in the middle of a step: another worker resumes the upload from
its stored state (after the dead worker's lease lapses) and the player hears every state
change once; every variant is made once, under its one key.

The worker is the real service process (`python -m services.avatars`) with a moderator that
hangs on its first call, so the kill lands inside the moderate step, after inspection.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shared.stack.servers import free_port
from tests.avatars_images import photo_jpeg
from tests.avatars_moderator import STALL_FILE
from tests.avatars_support import (
    ADMIN_TOKEN,
    JWT_SECRET,
    header,
    read_topic,
    running_avatars,
    settings,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def start_worker(tmp_path: Path, unique: str, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AVATARS_PORT": str(free_port()),
        "AVATARS_DATA_DIR": str(tmp_path),
        "AVATARS_CONSUMER_GROUP": f"avatars-{unique}",
        "AVATARS_MODERATOR": "tests.avatars_moderator:StallOnceModerator",
        "AVATARS_POOL_WORKERS": "1",
        "AVATARS_LEASE_SECONDS": "3",
        "AVATARS_STEP_BACKOFF_SECONDS": "0.05",
        STALL_FILE: str(tmp_path / "stalled"),
        "AUTH_JWT_SECRET": JWT_SECRET,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "OTEL_SDK_DISABLED": "true",
    }
    with (tmp_path / f"{name}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "services.avatars"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its pool workers share its process group: killed together
        )


async def wait_file(path: Path, within: float) -> None:
    async with asyncio.timeout(within):
        while not path.exists():
            await asyncio.sleep(0.05)


async def test_a_worker_killed_mid_step_is_resumed_without_duplicates(
    kafka_env: str, unique: str, tmp_path: Path
) -> None:
    user = f"k{unique}"
    first = start_worker(tmp_path, unique, "first")
    second = None
    try:
        # The API side only (consume=False): the workers in the subprocesses run the steps.
        async with running_avatars(settings(tmp_path, unique), consume=False) as avatars:
            upload_id = await avatars.upload(user, photo_jpeg(800, 600))
            await wait_file(tmp_path / "stalled", within=60)  # inside moderate, in the pool
            assert (await avatars.state(upload_id))["state"] == "inspected"
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
            second = start_worker(tmp_path, unique, "second")
            doc = await avatars.until(upload_id, {"published", "failed"}, within=90)
        assert doc["state"] == "published", doc.get("reason")
        states = [h["state"] for h in doc["history"]]
        assert len(states) == len(set(states)), states
        assert doc["variants"] == sorted(set(doc["variants"]))
        stored = sorted(
            p.name for p in (tmp_path / "blobs" / "avatars" / user / upload_id).iterdir()
        )
        assert stored == sorted([*doc["variants"], "canonical.webp"])
        wanted = ["received", "inspected", "moderated", "approved", "variants_ready", "published"]
        notes = await read_topic(
            "notifications", lambda r: r.key == f"user:{user}".encode(), len(wanted)
        )
        heard = [json.loads(r.value)["data"]["state"] for r in notes]
        assert heard == wanted
        ids = [header(r, "ce_id") for r in notes]
        assert len(set(ids)) == len(ids)
        log = (tmp_path / "second.log").read_text()
        assert "Traceback" not in log
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()  # as the stack runner and Kubernetes stop a service
                proc.wait(timeout=30)
