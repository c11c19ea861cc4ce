"""The README's configuration table lists every setting the code reads, and nothing it doesn't."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from services.accounts.settings import AccountsSettings
from services.avatars.settings import AvatarsSettings
from services.gateway.settings import GatewaySettings
from services.ingest.settings import IngestSettings
from services.notifier.settings import NotifierSettings
from services.shop.settings import ShopSettings
from services.waitingroom.settings import WaitingroomSettings
from shared.settings import PlatformSettings
from shared.stack.registry import SERVICES
from shared.stack.settings import StackSettings
from shared.telemetry.traces.settings import TracesSettings

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def _variables(settings: type[BaseSettings]) -> set[str]:
    prefix = str(settings.model_config.get("env_prefix", "")).upper()
    return {f"{prefix}{name.upper()}" for name in settings.model_fields if name != "platform"}


def _documented() -> set[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def _service_urls() -> set[str]:
    """`<SERVICE>_URL`: where other processes reach a registered service (route files read it)."""
    return {url for entry in SERVICES for url in entry.urls()}


def _settings_variables() -> set[str]:
    """Every environment variable the settings classes read, and the services' addresses."""
    return _service_urls() | (
        _variables(PlatformSettings)
        | _variables(GatewaySettings)
        | _variables(NotifierSettings)
        | _variables(WaitingroomSettings)
        | _variables(ShopSettings)
        | _variables(AccountsSettings)
        | _variables(IngestSettings)
        | _variables(AvatarsSettings)
        | _variables(StackSettings)
        | _variables(TracesSettings)
    )


def test_every_setting_is_documented() -> None:
    expected = _settings_variables()
    missing = expected - _documented()
    assert not missing, f"README configuration table lacks {sorted(missing)}"


def test_no_documented_setting_is_stale() -> None:
    known = _settings_variables()
    stale = {name for name in _documented() - known if not name.startswith("OTEL_")}
    assert not stale, f"README documents settings the code does not read: {sorted(stale)}"


def test_every_registered_service_port_is_documented() -> None:
    documented = _documented()
    for entry in SERVICES:
        assert entry.port_env in documented
        if entry.admin_port_env:
            assert entry.admin_port_env in documented
        assert set(entry.extra_ports) <= documented
