"""Benchmark `rt diff` on long calls: does it stay linear in the number of timeline lines?

    python bench/diff.py                      # 2,000 and 8,000 turns (about 25k and 100k lines)
    python bench/diff.py --turns 500 2000

Builds, for each size, a synthetic call of N text-and-audio turns (a client `response.create`,
then the server's created / item / part / audio / transcript / done events, a rate-limit
update: about 12 timeline lines a turn) and a replay of it that differs the way replays do (an
extra item event every 7th turn, a turn without transcript every 11th, an error every 13th,
other words every 5th). Then times, in one process:

  baseline   reading both files as `rt diff` must: the analytics views (`open_views`) and
             each file's timeline
  rt diff    `diff_session_files` (the above, plus lining up events, pairing responses and
             diffing transcripts)
  align      `align_events` alone

and prints seconds and the ratio to the baseline. Linear means the ratio stays flat as N grows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from recorder.analytics import open_views  # noqa: E402
from recorder.diff import align_events, diff_session_files, event_steps  # noqa: E402
from recorder.reading import iter_records  # noqa: E402
from recorder.session import (  # noqa: E402
    close_record,
    encode_record,
    frame_line,
    open_record,
    session_record,
)
from recorder.timeline import Timeline  # noqa: E402

AUDIO = "A" * 640  # 20 ms of 8 kHz... any base64 will do: the diff never decodes it


def build(path: Path, turns: int, replay: bool) -> None:
    """A call of `turns` turns; `replay`: the same call, replayed with a few differences."""
    lines = [
        encode_record(
            session_record(
                "replay" if replay else "original",
                dt.datetime(2026, 12, 6, tzinfo=dt.timezone.utc),
                "wss://api.openai.com/v1/realtime?model=gpt-realtime",
                "/v1/realtime?model=gpt-realtime",
                [],
                [],
            )
        ),
        encode_record(open_record(0.01, None, [])),
    ]
    seq = 0
    t = 0.02

    def frame(sender: str, event: dict[str, object]) -> None:
        nonlocal seq, t
        lines.append(frame_line(seq, t, sender, json.dumps(event)))  # type: ignore[arg-type]
        seq += 1
        t += 0.01

    frame("server", {"type": "session.created", "session": {"model": "gpt-realtime"}})
    for n in range(1, turns + 1):
        rid, iid = f"resp_{n}", f"item_{n}"
        ids = {"response_id": rid, "item_id": iid, "output_index": 0, "content_index": 0}
        frame("client", {"type": "response.create"})
        frame("server", {"type": "response.created", "response": {"id": rid}})
        frame("server", {"type": "response.output_item.added", "response_id": rid,
                         "item": {"id": iid, "type": "message"}})  # fmt: skip
        if replay and n % 7 == 0:
            frame("server", {"type": "conversation.item.added", "item": {"id": iid}})
        frame("server", {"type": "response.content_part.added", **ids})
        for _ in range(5):
            frame("server", {"type": "response.output_audio.delta", **ids, "delta": AUDIO})
        words = "other words" if replay and n % 5 == 0 else f"turn {n} says hello"
        if not (replay and n % 11 == 0):
            for word in words.split():
                frame("server", {"type": "response.output_audio_transcript.delta", **ids,
                                 "delta": word + " "})  # fmt: skip
            frame("server", {"type": "response.output_audio_transcript.done", **ids,
                             "transcript": words})  # fmt: skip
        frame("server", {"type": "response.output_audio.done", **ids})
        frame("server", {"type": "response.content_part.done", **ids})
        frame("server", {"type": "response.output_item.done", "response_id": rid,
                         "item": {"id": iid, "type": "message"}})  # fmt: skip
        if replay and n % 13 == 0:
            frame("server", {"type": "error", "error": {"type": "server_error", "message": "x"}})
        usage = {"input_tokens": 10, "output_tokens": 20}
        frame("server", {"type": "response.done",
                         "response": {"id": rid, "status": "completed", "usage": usage}})  # fmt: skip
        frame("server", {"type": "rate_limits.updated", "rate_limits": [
            {"name": "tokens", "limit": 40000, "remaining": 30000, "reset_seconds": 1.0}]})  # fmt: skip
    lines.append(encode_record(close_record(t, "client", 1000, "")))
    path.write_text("".join(lines))


def timeline_steps(path: Path) -> list:
    timeline = Timeline(path=str(path))
    items = []
    for line, record in iter_records(path, lambda warning: None):
        items.extend(timeline.feed(line, record))
    items.extend(timeline.finish())
    return event_steps(items)


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, nargs="+", default=[2000, 8000])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for turns in args.turns:
            a, b = Path(tmp) / f"a{turns}.jsonl", Path(tmp) / f"b{turns}.jsonl"
            build(a, turns, replay=False)
            build(b, turns, replay=True)
            steps_a, steps_b = timeline_steps(a), timeline_steps(b)

            def baseline(a: Path = a, b: Path = b) -> None:
                with open_views([a, b]) as views:
                    views.db.rows("response_rows")
                timeline_steps(a)
                timeline_steps(b)

            base = timed(baseline, args.repeat)
            whole = timed(lambda a=a, b=b: diff_session_files(a, b), args.repeat)
            align = timed(lambda x=steps_a, y=steps_b: align_events(x, y), args.repeat)
            rows = len(align_events(steps_a, steps_b))
            size = (a.stat().st_size + b.stat().st_size) / 2**20
            print(f"{turns:,} turns: {len(steps_a):,} + {len(steps_b):,} timeline lines, "
                  f"{rows:,} diff rows, {size:.1f} MiB")  # fmt: skip
            print(f"  {'baseline (read both)':24} {base:8.2f} s  1.00x")
            print(f"  {'rt diff':24} {whole:8.2f} s  {whole / base:.2f}x")
            print(f"  {'align_events alone':24} {align:8.2f} s  {align / base:.2f}x")


if __name__ == "__main__":
    main()
