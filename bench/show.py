"""Benchmark `rt show` / `rt tail` rendering against the bare session reader, in one process.

    python bench/show.py [--minutes 10]

Builds a synthetic server-VAD call (mic appends every 40 ms, a 5 s spoken answer every 10 s in
100 ms audio deltas with transcript deltas), then times, on the same file:
  baseline   iter_records (read + decode every line: what any command pays)
  show       the default timeline (collapsed), written as plain text to /dev/null
  show --all every frame on its own line
  show --json one JSON object per frame
  tail       follow_sessions + decode_line + timeline, until the close line
Prints seconds and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rt_cli.timeline_view import make_printer

from recorder.follow import NewLine, follow_sessions
from recorder.reading import iter_records
from recorder.session import (
    close_record,
    decode_line,
    encode_record,
    frame_line,
    open_record,
    session_record,
)
from recorder.timeline import EntryFilter


def build(path: Path, minutes: float) -> int:
    mic = base64.b64encode(bytes(1920)).decode()
    out_audio = base64.b64encode(bytes(4800)).decode()
    lines = [
        encode_record(
            session_record(
                "bench",
                dt.datetime.now(dt.timezone.utc),
                "wss://api.openai.com/v1/realtime?model=gpt-realtime",
                "/v1/realtime?model=gpt-realtime",
                [],
                [],
            )
        ),
        encode_record(open_record(0.1, None, [])),
    ]
    seq, t, end = 0, 0.2, minutes * 60
    events: list[tuple[float, str, str]] = []
    while t < end:
        events.append(
            (t, "client", json.dumps({"type": "input_audio_buffer.append", "audio": mic}))
        )
        t += 0.04
    for n, start in enumerate(range(5, int(end) - 6, 10), start=1):
        rid, iid = f"resp_{n}", f"item_{n}"
        ids = {"response_id": rid, "item_id": iid, "output_index": 0, "content_index": 0}
        events.append(
            (
                start,
                "server",
                json.dumps(
                    {
                        "type": "input_audio_buffer.speech_stopped",
                        "audio_end_ms": start * 1000,
                        "item_id": f"u{n}",
                    }
                ),
            )
        )
        events.append(
            (
                start + 0.05,
                "server",
                json.dumps(
                    {"type": "response.created", "response": {"id": rid, "status": "in_progress"}}
                ),
            )
        )
        for k in range(50):
            events.append(
                (
                    start + 0.4 + k * 0.03,
                    "server",
                    json.dumps({"type": "response.output_audio.delta", **ids, "delta": out_audio}),
                )
            )
            if k % 3 == 0:
                events.append(
                    (
                        start + 0.4 + k * 0.03,
                        "server",
                        json.dumps(
                            {
                                "type": "response.output_audio_transcript.delta",
                                **ids,
                                "delta": " word",
                            }
                        ),
                    )
                )
        events.append(
            (start + 2.0, "server", json.dumps({"type": "response.output_audio.done", **ids}))
        )
        events.append(
            (
                start + 2.0,
                "server",
                json.dumps(
                    {
                        "type": "response.done",
                        "response": {
                            "id": rid,
                            "status": "completed",
                            "usage": {"input_tokens": 100, "output_tokens": 50},
                        },
                    }
                ),
            )
        )
        events.append(
            (
                start + 2.0,
                "server",
                json.dumps(
                    {
                        "type": "rate_limits.updated",
                        "rate_limits": [
                            {
                                "name": "tokens",
                                "limit": 40000,
                                "remaining": 30000,
                                "reset_seconds": 1.0,
                            }
                        ],
                    }
                ),
            )
        )
    events.sort(key=lambda e: e[0])
    for t_, sender, payload in events:
        lines.append(frame_line(seq, t_, sender, payload))  # type: ignore[arg-type]
        seq += 1
    lines.append(encode_record(close_record(end, "client", 1000, "")))
    path.write_text("".join(lines))
    return seq


def timed(fn) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as devnull:
        path = Path(tmp) / "bench.jsonl"
        frames = build(path, args.minutes)
        size = path.stat().st_size

        def baseline() -> None:
            for _ in iter_records(path):
                pass

        def show(every_frame: bool = False, as_json: bool = False) -> None:
            printer = make_printer(
                Console(file=devnull), EntryFilter(), every_frame=every_frame, as_json=as_json
            )
            for line, record in iter_records(path):
                printer.feed(line, record)
            printer.finish()

        def tail() -> None:
            printer = make_printer(
                Console(file=devnull), EntryFilter(), every_frame=False, as_json=False
            )
            events = follow_sessions(path, interval=0.01)
            with contextlib.closing(events):
                for event in events:
                    if isinstance(event, NewLine):
                        record = decode_line(event.data)
                        printer.feed(event.number, record)
                        if record["kind"] == "close":
                            break
            printer.finish()

        base = timed(baseline)
        print(f"{args.minutes:g}-minute call: {frames:,} frames, {size / 2**20:.1f} MiB")
        print(f"{'baseline (iter_records)':28} {base:7.3f} s  1.00x")
        for name, fn in (
            ("rt show", show),
            ("rt show --all", lambda: show(every_frame=True)),
            ("rt show --json", lambda: show(as_json=True)),
            ("rt tail (whole file)", tail),
        ):
            spent = timed(fn)
            print(
                f"{name:28} {spent:7.3f} s  {spent / base:.2f}x  ({frames / spent:,.0f} frames/s)"
            )


if __name__ == "__main__":
    main()
