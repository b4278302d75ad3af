"""Every frame of a session as one JSON-ready object (what `rt show --json` prints; pure).

    {"seq": 7, "t": 1.234567, "at": "2026-11-26T10:00:01.234567Z", "from": "server",
     "type": "response.output_audio.delta", "response_id": "resp_…", "session": "…",
     "event": {…the event exactly as recorded…}}

`seq`, `t`, `type` and `response_id` are what the one interpretation says (the frame's number,
its time, its canonical type, the response it belongs to). A frame that was not a JSON object,
or an event without a string type, has `"type": null`; a text or binary frame has `text` or
`binary` instead of `event`. `at` is null when the file has no usable `started_at`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from recorder.interpretation import Frame, Interpreter
from recorder.interpretation.interpreter import OnWarning
from recorder.session import iso_utc


class FrameStream:
    """Feeds records to an `Interpreter` and gives each frame as its `--json` object."""

    def __init__(self, path: str = "<session>", on_warning: OnWarning | None = None) -> None:
        self.interpreter = Interpreter(path, on_warning, measure_audio=False)

    def feed(self, line: int, record: Mapping[str, Any]) -> dict[str, Any] | None:
        frame = self.interpreter.feed(line, record)
        if frame is None:
            return None
        connection = self.interpreter.connection
        return frame_object(frame, connection.session_id, connection.started_at)


def frame_object(
    frame: Frame, session_id: str | None, started_at: dt.datetime | None
) -> dict[str, Any]:
    at = None
    if started_at is not None:
        at = iso_utc(started_at + dt.timedelta(seconds=frame.t))
    out: dict[str, Any] = {
        "seq": frame.number,
        "t": frame.t,
        "at": at,
        "from": frame.direction,
        "type": frame.type if frame.raw_type is not None else None,
        "response_id": frame.response_id,
        "session": session_id,
    }
    if frame.event is not None:
        out["event"] = frame.event
    elif frame.text is not None:
        out["text"] = frame.text
    else:
        out["binary"] = frame.binary
    return out
