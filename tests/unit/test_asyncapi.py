from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from shared.events.asyncapi import build, render
from shared.events.catalog import Catalog, EventSpec

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


class Parcel(BaseModel):
    parcel_id: str
    weight_grams: int


def test_checked_in_asyncapi_matches_the_catalog() -> None:
    checked_in = (ROOT / "docs" / "asyncapi.yaml").read_text(encoding="utf-8")
    drift = "docs/asyncapi.yaml drifted from the catalog: run `make asyncapi`"
    assert checked_in == render(), drift


def test_every_event_type_becomes_a_message_on_its_topic_and_dead_letter_channel() -> None:
    catalog = Catalog()
    catalog.register(
        EventSpec(
            type="parcel.shipped",
            topic="parcels",
            payload=Parcel,
            key=lambda p: p.parcel_id,
            key_doc="parcel_id",
            description="A parcel left the warehouse.",
        )
    )
    doc = build(catalog)
    assert doc["asyncapi"] == "3.0.0"
    assert doc["channels"]["parcels"]["address"] == "parcels"
    assert doc["channels"]["parcelsDlq"]["address"] == "parcels.dlq"
    message = doc["components"]["messages"]["parcelShipped"]
    assert message["bindings"]["kafka"]["key"]["description"] == "parcel_id"
    schema = doc["components"]["schemas"]["Parcel"]
    assert schema["required"] == ["parcel_id", "weight_grams"]
    yaml.safe_load(yaml.safe_dump(doc))  # serialisable as YAML


def test_registering_a_type_twice_is_refused() -> None:
    catalog = Catalog()
    spec = EventSpec(
        type="parcel.shipped",
        topic="parcels",
        payload=Parcel,
        key=lambda p: p.parcel_id,
        key_doc="parcel_id",
        description="",
    )
    catalog.register(spec)
    with pytest.raises(ValueError, match="registered twice"):
        catalog.register(spec)
