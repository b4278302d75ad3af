"""Benchmark `rt export wav` against a bare base64-decode-and-write of the same audio.

Generates one session file in a temporary directory: an hour of pcm16 24 kHz audio each way,
the client streaming the microphone in 20-40 ms appends at real time (with jitter), the
assistant answering in 20-40 ms deltas that arrive three times faster than real time, every
tenth answer cut short by the client. Then times, in one process and on the same warm file:

    baseline  read the lines, json.loads each, base64-decode every append and delta, write the
              bytes to two raw files (the least any exporter of this file format must do)
    export    recorder.wav.export_wav: user, assistant and stereo mix WAVs

and prints both, their ratio, and the export's speed as a multiple of real time. Also times
the two ways of decoding G.711 (lookup table, libsndfile RAW via BytesIO).

    python bench/export.py                # one hour, best of 2 runs
    python bench/export.py --minutes 10 --runs 3
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import io
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from recorder.audio import decode_base64, decode_samples  # noqa: E402
from recorder.session import encode_record, frame_line, session_record  # noqa: E402
from recorder.vocabulary import ULAW  # noqa: E402
from recorder.wav import export_wav  # noqa: E402

RATE = 24000
BYTES_PER_MS = 48
_POOL = random.Random(7).randbytes(4 * 2**20)


def _audio(ms: int, rng: random.Random) -> str:
    size = ms * BYTES_PER_MS
    start = rng.randrange(0, (len(_POOL) - size) // 2) * 2
    return base64.b64encode(_POOL[start : start + size]).decode("ascii")


def generate(path: Path, seconds: float, seed: int = 1) -> int:
    """Write the session; returns the number of frames."""
    rng = random.Random(seed)
    frames: list[tuple[float, str, dict]] = []
    frames.append(
        (
            0.05,
            "server",
            {
                "type": "session.created",
                "session": {
                    "type": "realtime",
                    "model": "gpt-realtime",
                    "audio": {
                        "input": {"format": {"type": "audio/pcm", "rate": RATE}},
                        "output": {"format": {"type": "audio/pcm", "rate": RATE}},
                    },
                },
            },
        )
    )
    t = 0.2
    while t < seconds:  # the microphone, at real time give or take a few ms
        ms = rng.randint(20, 40)
        frames.append(
            (
                t + rng.uniform(0, 0.004),
                "client",
                {"type": "input_audio_buffer.append", "audio": _audio(ms, rng)},
            )
        )
        t += ms / 1000
    start = 0.5
    index = 0
    while start < seconds:  # answers back to back, 6 s of audio each, generated at 3x
        response_id, item_id = f"resp_{index:05d}", f"item_{index:05d}"
        frames.append(
            (start - 0.3, "server", {"type": "response.created", "response": {"id": response_id}})
        )
        audio_ms = 0
        at = start
        while audio_ms < 6000:
            ms = rng.randint(20, 40)
            delta = {
                "type": "response.output_audio.delta",
                "response_id": response_id,
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "delta": _audio(ms, rng),
            }
            frames.append((at, "server", delta))
            audio_ms += ms
            at += ms / 3000
        done = {"type": "response.done", "response": {"id": response_id, "status": "completed"}}
        frames.append((at + 0.01, "server", done))
        if index % 10 == 9:
            frames.append(
                (
                    at + 0.02,
                    "client",
                    {
                        "type": "conversation.item.truncate",
                        "item_id": item_id,
                        "audio_end_ms": 2500,
                    },
                )
            )
        start += 6.0
        index += 1
    frames.sort(key=lambda frame: frame[0])
    started = dt.datetime(2026, 11, 26, 9, tzinfo=dt.timezone.utc)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(
            encode_record(session_record("bench", started, "wss://api.openai.com", "/v1", [], []))
        )
        for seq, (at, direction, event) in enumerate(frames):
            fh.write(frame_line(seq, at, direction, json.dumps(event)))  # type: ignore[arg-type]
    return len(frames)


def baseline(path: Path, out: Path) -> int:
    """Parse every line, base64-decode every payload, write raw bytes: the floor."""
    written = 0
    with (
        open(path, "rb") as fh,
        open(out / "user.raw", "wb") as user,
        open(out / "assistant.raw", "wb") as assistant,
    ):
        for raw in fh:
            event = json.loads(raw).get("event") or {}
            kind = event.get("type")
            if kind == "input_audio_buffer.append":
                written += user.write(decode_base64(event["audio"]))
            elif kind == "response.output_audio.delta":
                written += assistant.write(decode_base64(event["delta"]))
    return written


def best(runs: int, action) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def g711_decoders(seconds: float) -> tuple[float, float]:
    data = np.random.default_rng(3).integers(0, 256, int(8000 * seconds), dtype=np.uint8).tobytes()
    table = best(3, lambda: decode_samples(data, ULAW))

    def with_libsndfile() -> None:
        sf.read(
            io.BytesIO(data),
            dtype="int16",
            format="RAW",
            subtype="ULAW",
            samplerate=8000,
            channels=1,
        )

    return table, best(3, with_libsndfile)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="rt-bench-export-") as tmp:
        work = Path(tmp)
        session = work / "bench.jsonl"
        start = time.perf_counter()
        frames = generate(session, seconds)
        size_mb = session.stat().st_size / 1e6
        print(
            f"session: {args.minutes:g} min each way, {frames} frames, {size_mb:.0f} MB "
            f"(generated in {time.perf_counter() - start:.1f} s)"
        )
        (work / "raw").mkdir()
        audio_bytes = baseline(session, work / "raw")  # warms the page cache for both
        base = best(args.runs, lambda: baseline(session, work / "raw"))
        result = export_wav(session, work / "wav", on_warning=lambda w: None)
        export = best(
            args.runs, lambda: export_wav(session, work / "wav", on_warning=lambda w: None)
        )
        length = max(w.duration_s for w in result.written)
        print(
            f"baseline (json + base64 + write raw): {base:6.2f} s  {size_mb / base:6.0f} MB/s  "
            f"{audio_bytes / 1e6:.0f} MB of audio"
        )
        print(
            f"rt export wav (user, assistant, mix): {export:6.2f} s  {size_mb / export:6.0f} MB/s"
        )
        for w in result.written:
            print(
                f"  {w.path.name:22s} {w.duration_s:8.1f} s  {w.channels} ch  {w.path.stat().st_size / 1e6:5.0f} MB"
            )
        print(f"ratio export / baseline: {export / base:.2f}x")
        print(
            f"speed: {length / export:.0f}x real time ({length / 60:.1f} min session in {export:.2f} s)"
        )
    table, libsndfile = g711_decoders(min(seconds, 3600))
    print(
        f"G.711 decode of {min(seconds, 3600) / 60:g} min: lookup table {table * 1000:.0f} ms, "
        f"libsndfile RAW via BytesIO {libsndfile * 1000:.0f} ms"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MB")


if __name__ == "__main__":
    main()
