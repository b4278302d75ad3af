"""What a session's connection was: its header, model, protocol and transport (pure).

The rules, one for every reader:

- model: the `model` of the first server `session.created`, `session.updated` or (GPT-Live)
  `session.started` that names one; before that, and when no server message names one, the
  request's `model` query parameter (Azure preview: `deployment`), or the `model` of a GPT-Live
  client's `session.start`;
- protocol (CONTRACT §4.3): `live` for `/v1/live/sessions…` (or a first client `session.start`),
  `translation` for `/v1/realtime/translations` (or a server session of type `translation`),
  else `realtime`;
- transport: `sideband` for a `call_id=` query or a path ending in `/attach` (a second
  connection watching a WebRTC or SIP call: control events, usually no audio), else `websocket`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

Protocol = Literal["realtime", "translation", "live"]
Transport = Literal["websocket", "sideband"]

_SERVER_SESSION_EVENTS = frozenset({"session.created", "session.updated", "session.started"})


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def query_params(url: str | None) -> dict[str, str]:
    if not url:
        return {}
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def model_from_url(url: str | None) -> str | None:
    """The `model` (OpenAI) or `deployment` (Azure preview) query parameter of a URL or path."""
    params = query_params(url)
    return params.get("model") or params.get("deployment") or None


def protocol_of_path(path: str | None) -> Protocol | None:
    route = urlsplit(path or "").path.rstrip("/")
    if "/live/sessions" in route:
        return "live"
    if route.endswith("/realtime/translations"):
        return "translation"
    return None


def transport_of_path(path: str | None) -> Transport:
    parts = urlsplit(path or "")
    if "call_id" in query_params(path) or parts.path.rstrip("/").endswith("/attach"):
        return "sideband"
    return "websocket"


def parse_started_at(value: object) -> dt.datetime | None:
    """`started_at` of a session line as an aware datetime, or None if absent or malformed."""
    if not isinstance(value, str):
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    # a start beyond year 9000 leaves no room for wall-clock times after it
    return moment if moment.year < 9000 else None


@dataclass
class Connection:
    """What the header lines and the first messages say about the connection."""

    session_id: str | None = None
    started_at_text: str | None = None
    started_at: dt.datetime | None = None
    upstream: str | None = None
    path: str | None = None
    recorder_version: str | None = None
    subprotocol: str | None = None
    opened_t: float | None = None
    closed_t: float | None = None
    closed_by: str | None = None
    close_code: int | None = None
    close_reason: str | None = None
    server_model: str | None = None
    client_model: str | None = None  # GPT-Live: the model a client's session.start names
    server_protocol: Protocol | None = None
    client_protocol: Protocol | None = None

    @property
    def model(self) -> str | None:
        return (
            self.server_model
            or model_from_url(self.path)
            or model_from_url(self.upstream)
            or self.client_model
        )

    @property
    def model_confirmed(self) -> bool:
        """Whether the server has named the model (it will not change after this)."""
        return self.server_model is not None

    @property
    def protocol(self) -> Protocol:
        return (
            protocol_of_path(self.path)
            or self.client_protocol
            or self.server_protocol
            or "realtime"
        )

    @property
    def transport(self) -> Transport:
        return transport_of_path(self.path)

    def header(self, record: Mapping[str, Any]) -> None:
        """The `session` line."""
        self.session_id = _str(record.get("id"))
        self.started_at_text = _str(record.get("started_at"))
        self.started_at = parse_started_at(record.get("started_at"))
        self.upstream = _str(record.get("upstream"))
        request = record.get("request")
        self.path = _str(request.get("path")) if isinstance(request, Mapping) else None
        recorder = record.get("recorder")
        if isinstance(recorder, Mapping):
            self.recorder_version = _str(recorder.get("version"))

    def opened(self, record: Mapping[str, Any], t: float) -> None:
        self.subprotocol = _str(record.get("subprotocol"))
        self.opened_t = t

    def closed(self, record: Mapping[str, Any], t: float) -> None:
        self.closed_t = t
        self.closed_by = _str(record.get("by"))
        code = record.get("code")
        # what a close frame can carry (two bytes); anything else is not a close code
        is_code = isinstance(code, int) and not isinstance(code, bool) and 0 <= code <= 0xFFFF
        self.close_code = code if is_code else None
        self.close_reason = _str(record.get("reason"))

    def server_event(self, ctype: str, event: Mapping[str, Any]) -> None:
        if ctype not in _SERVER_SESSION_EVENTS:
            return
        session = event.get("session")
        if not isinstance(session, Mapping):
            return
        if self.server_model is None:
            self.server_model = _str(session.get("model"))
        if session.get("type") == "translation":
            self.server_protocol = "translation"

    def client_event(self, ctype: str, event: Mapping[str, Any], first: bool) -> None:
        if ctype != "session.start":
            return
        if first:
            self.client_protocol = "live"
        session = event.get("session")
        if isinstance(session, Mapping) and self.client_model is None:
            self.client_model = _str(session.get("model"))
