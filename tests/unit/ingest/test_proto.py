"""The committed protobuf code is what `make proto` makes of the schema file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from shared.events.contracts.ingest import TRACKING_EVENT
from shared.events.proto import tracking_pb2

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[3]


def test_the_generated_code_matches_the_schema_file(tmp_path: Path) -> None:
    out = tmp_path / "tracking.pb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            ".",
            f"--descriptor_set_out={out}",
            TRACKING_EVENT.schema_file,
        ],
        cwd=ROOT,
        check=True,
    )
    compiled = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    for message in compiled.message_type:  # generated code leaves out the derived JSON names
        for field in message.field:
            field.ClearField("json_name")
    committed = descriptor_pb2.FileDescriptorProto()
    tracking_pb2.DESCRIPTOR.CopyToProto(committed)
    drift = "shared/events/proto/tracking_pb2.py drifted from tracking.proto: run `make proto`"
    assert committed == compiled, drift
    stub = (ROOT / "shared/events/proto/tracking_pb2.pyi").read_text(encoding="utf-8")
    for field in compiled.message_type[2].field:
        assert f"    {field.name}: " in stub, f"tracking_pb2.pyi lacks {field.name}: make proto"


def test_events_carry_the_schema_in_their_headers() -> None:
    headers = dict(TRACKING_EVENT.headers("id-1", "ingest", 1_700_000_000_000))
    assert headers["content-type"] == b"application/protobuf"
    assert headers["ce_dataschema"] == (
        b"shared/events/proto/tracking.proto#surge.tracking.v1.TrackingEvent"
    )
    assert headers["ce_time"] == b"2023-11-14T22:13:20+00:00"
