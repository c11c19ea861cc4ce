"""The CloudEvents 1.0 envelope (https://github.com/cloudevents/spec, v1.0.2).

On Kafka it travels in binary content mode: attributes in `ce_*` headers, `datacontenttype`
in the `content-type` header, the payload JSON as the record value. See `shared.bus.codec`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

PayloadT = TypeVar("PayloadT", bound=BaseModel)


def _new_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


class CloudEvent(BaseModel, Generic[PayloadT]):
    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=_new_id, min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    specversion: Literal["1.0"] = "1.0"
    time: datetime = Field(default_factory=_now)
    subject: str | None = None
    datacontenttype: str = "application/json"
    data: PayloadT
