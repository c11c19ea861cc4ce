from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Channel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_UNSPECIFIED: _ClassVar[Channel]
    CHANNEL_PIXEL: _ClassVar[Channel]
    CHANNEL_REDIRECT: _ClassVar[Channel]
    CHANNEL_BATCH: _ClassVar[Channel]
CHANNEL_UNSPECIFIED: Channel
CHANNEL_PIXEL: Channel
CHANNEL_REDIRECT: Channel
CHANNEL_BATCH: Channel

class Param(_message.Message):
    __slots__ = ("k", "v")
    K_FIELD_NUMBER: _ClassVar[int]
    V_FIELD_NUMBER: _ClassVar[int]
    k: str
    v: str
    def __init__(self, k: _Optional[str] = ..., v: _Optional[str] = ...) -> None: ...

class Agent(_message.Message):
    __slots__ = ("browser", "browser_version", "os", "os_version", "device")
    BROWSER_FIELD_NUMBER: _ClassVar[int]
    BROWSER_VERSION_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    OS_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    browser: str
    browser_version: str
    os: str
    os_version: str
    device: str
    def __init__(self, browser: _Optional[str] = ..., browser_version: _Optional[str] = ..., os: _Optional[str] = ..., os_version: _Optional[str] = ..., device: _Optional[str] = ...) -> None: ...

class TrackingEvent(_message.Message):
    __slots__ = ("event_id", "program_id", "advertiser_id", "type", "channel", "received_at_ms", "client_time_ms", "client_event_id", "params", "user_agent", "agent", "bot", "ip", "ip_truncated", "identifier", "opted_out", "click_id", "redirect_to", "referrer", "sender")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    PROGRAM_ID_FIELD_NUMBER: _ClassVar[int]
    ADVERTISER_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    BOT_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    IP_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    OPTED_OUT_FIELD_NUMBER: _ClassVar[int]
    CLICK_ID_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_TO_FIELD_NUMBER: _ClassVar[int]
    REFERRER_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    program_id: str
    advertiser_id: str
    type: str
    channel: Channel
    received_at_ms: int
    client_time_ms: int
    client_event_id: str
    params: _containers.RepeatedCompositeFieldContainer[Param]
    user_agent: str
    agent: Agent
    bot: bool
    ip: str
    ip_truncated: bool
    identifier: str
    opted_out: bool
    click_id: str
    redirect_to: str
    referrer: str
    sender: str
    def __init__(self, event_id: _Optional[str] = ..., program_id: _Optional[str] = ..., advertiser_id: _Optional[str] = ..., type: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., received_at_ms: _Optional[int] = ..., client_time_ms: _Optional[int] = ..., client_event_id: _Optional[str] = ..., params: _Optional[_Iterable[_Union[Param, _Mapping]]] = ..., user_agent: _Optional[str] = ..., agent: _Optional[_Union[Agent, _Mapping]] = ..., bot: _Optional[bool] = ..., ip: _Optional[str] = ..., ip_truncated: _Optional[bool] = ..., identifier: _Optional[str] = ..., opted_out: _Optional[bool] = ..., click_id: _Optional[str] = ..., redirect_to: _Optional[str] = ..., referrer: _Optional[str] = ..., sender: _Optional[str] = ...) -> None: ...
