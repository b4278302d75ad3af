"""A session as a readable timeline, and every frame as JSON (pure: records in, lines out).

    entries       Timeline: records -> a SessionHeader, then Entry after Entry (collapsed runs)
    describe      one line of text per event, and how alarming it is
    filters       `--type` and `--grep`
    frames_json   FrameStream: each frame as the object `rt show --json` prints

All of them read records through the one `Interpreter` (recorder.interpretation).
"""

from recorder.interpretation.connection import model_from_url, parse_started_at
from recorder.timeline.describe import (
    Severity,
    describe_close,
    describe_event,
    describe_item,
    format_name,
)
from recorder.timeline.entries import (
    IDLE_CLOSE_S,
    Entry,
    SessionHeader,
    Source,
    Timeline,
    TimelineItem,
    build_timeline,
)
from recorder.timeline.filters import EntryFilter, search_text, type_matches
from recorder.timeline.frames_json import FrameStream, frame_object

__all__ = [
    "IDLE_CLOSE_S",
    "Entry",
    "EntryFilter",
    "FrameStream",
    "SessionHeader",
    "Severity",
    "Source",
    "Timeline",
    "TimelineItem",
    "build_timeline",
    "describe_close",
    "describe_event",
    "describe_item",
    "format_name",
    "frame_object",
    "model_from_url",
    "parse_started_at",
    "search_text",
    "type_matches",
]
