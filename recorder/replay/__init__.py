"""Re-send the client side of a recording to a server and record the new exchange.

    load_session(path)             a recording: request, open, close, and its frames in order
    replay_schedule(session, …)    pure: one `Send` per client frame (payload, gap, what to await)
    connection_plan(session, …)    pure: the URL, headers and subprotocols to dial
    run_replay(schedule, plan, …)  the asyncio shell: dial, send on schedule, record both directions
    summarise(records)             pure: frames, errors and each response's latency in one recording

One module each: `recording` (the loaded recording), `schedule` (what to send when, where to
connect), `run` (the asyncio shell), `summary` (what a recording shows).
"""

from recorder.replay.recording import (
    RecordedClose,
    RecordedFrame,
    RecordedFrames,
    RecordedSession,
    event_type_of,
    load_session,
)
from recorder.replay.run import (
    DEFAULT_TIMEOUT,
    NO_CLOSE_FRAME,
    ReplayResult,
    ReplayStopped,
    ReplayTimeout,
    run_replay,
)
from recorder.replay.schedule import (
    MILESTONES,
    PACES,
    ConnectionPlan,
    Finish,
    Pace,
    Schedule,
    Send,
    Sends,
    connection_plan,
    parse_header,
    replay_schedule,
    sendable_close_code,
)
from recorder.replay.summary import (
    RecordingFacts,
    ResponseComparison,
    ResponseLatency,
    ServerError,
    compare_responses,
    summarise,
    summarise_file,
    summarise_records,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "MILESTONES",
    "NO_CLOSE_FRAME",
    "PACES",
    "ConnectionPlan",
    "Finish",
    "Pace",
    "RecordedClose",
    "RecordedFrame",
    "RecordedFrames",
    "RecordedSession",
    "RecordingFacts",
    "ReplayResult",
    "ReplayStopped",
    "ReplayTimeout",
    "ResponseComparison",
    "ResponseLatency",
    "Schedule",
    "Send",
    "Sends",
    "ServerError",
    "compare_responses",
    "connection_plan",
    "event_type_of",
    "load_session",
    "parse_header",
    "replay_schedule",
    "run_replay",
    "sendable_close_code",
    "summarise",
    "summarise_file",
    "summarise_records",
]
