"""Benchmark `rt export wav` against a bare base64-decode-and-write of the same audio.

Generates one session file in a temporary directory: an hour of pcm16 24 kHz audio each way,
the client streaming the microphone in 20-40 ms appends at real time (with jitter), the
assistant answering in 20-40 ms deltas that arrive three times faster than real time, every
tenth answer cut short by the client. Then times, in one process and on the same warm file,
interleaved, the fastest of --runs counting (each run writes into a fresh directory, so
neither pays for replacing the other's files):

    baseline  read the lines, orjson.loads each, base64-decode every append and delta, write
              the samples with soundfile (user and assistant back to back, two mono WAVs,
              a megabyte at a time): the least any exporter of this file format must do.
              soundfile fsyncs each file as it closes it; rt does not, so the same baseline
              written with the stdlib's `wave` (no fsync) is timed too
    export    recorder.wav.export_wav: user, assistant and stereo mix WAVs (twice the
              baseline's bytes: the mix is stereo)

and prints both, their ratio, the export's speed as a multiple of real time, and the peak RSS
of each run alone in a fresh process. Also times the two ways of decoding G.711 (lookup table,
libsndfile RAW via BytesIO).

    python bench/export.py                # one hour, best of 3 runs
    python bench/export.py --minutes 10 --runs 5
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402
import orjson  # noqa: E402
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


def baseline(path: Path, out: Path, synced: bool = True) -> int:
    """Parse every line, base64-decode every payload, write the samples with soundfile: the
    floor. `synced=False`: the same written with the stdlib's `wave` (soundfile's close calls
    libsndfile's sf_write_sync, an fsync; rt's own WAV writer makes none). Returns the bytes of
    audio written."""
    written = 0
    with (
        open(path, "rb") as fh,
        _mono(out / "user.wav", synced) as user,
        _mono(out / "assistant.wav", synced) as assistant,
    ):
        pending: dict[object, list[bytes]] = {user: [], assistant: []}
        sizes = {user: 0, assistant: 0}
        for raw in fh:
            event = orjson.loads(raw).get("event") or {}
            kind = event.get("type")
            if kind == "input_audio_buffer.append":
                target, data = user, decode_base64(event["audio"])
            elif kind == "response.output_audio.delta":
                target, data = assistant, decode_base64(event["delta"])
            else:
                continue
            pending[target].append(data)
            sizes[target] += len(data)
            written += len(data)
            if sizes[target] >= 2**20:
                target.write(np.frombuffer(b"".join(pending[target]), dtype="<i2"))
                pending[target], sizes[target] = [], 0
        for target, pieces in pending.items():
            target.write(np.frombuffer(b"".join(pieces), dtype="<i2"))
    return written


class _WaveMono:
    """A mono 16-bit WAV written with the stdlib's `wave` (no fsync), soundfile's way up."""

    def __init__(self, path: Path) -> None:
        self._wave = wave.open(str(path), "wb")  # noqa: SIM115 - closed by __exit__
        self._wave.setnchannels(1)
        self._wave.setsampwidth(2)
        self._wave.setframerate(RATE)

    def write(self, samples: np.ndarray) -> None:
        self._wave.writeframesraw(samples.tobytes())

    def __enter__(self) -> _WaveMono:
        return self

    def __exit__(self, *_: object) -> None:
        self._wave.close()


def _mono(path: Path, synced: bool):  # type: ignore[no-untyped-def]
    if synced:
        return sf.SoundFile(path, "w", RATE, 1, "PCM_16", format="WAV")
    return _WaveMono(path)


def baseline_unsynced(path: Path, out: Path) -> int:
    return baseline(path, out, synced=False)


def export(path: Path, out: Path) -> float:
    """`rt export wav`'s library call; returns the length of the longest track in seconds."""
    result = export_wav(path, out, on_warning=lambda w: None)
    return max(w.duration_s for w in result.written)


def timed(action, path: Path, work: Path) -> float:  # type: ignore[no-untyped-def]
    """One run into a fresh directory (removed afterwards, untimed)."""
    out = Path(tempfile.mkdtemp(dir=work))
    try:
        start = time.perf_counter()
        action(path, out)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(out)


def peak_rss_mb(which: str, path: Path, work: Path) -> float:
    """Peak RSS of one run alone in a fresh process (VmHWM: getrusage's maxrss would count
    the parent's pages the child had before it exec'd)."""
    code = (
        "import re, sys, tempfile; sys.path.insert(0, sys.argv[1]); import export as b; "
        "from pathlib import Path; "
        f"out = tempfile.mkdtemp(dir=sys.argv[3]); b.{which}(Path(sys.argv[2]), Path(out)); "
        "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(HERE), str(path), str(work)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.split()[-1]) / 1024


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
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    seconds = args.minutes * 60
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
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
        out = Path(tempfile.mkdtemp(dir=work))
        audio_bytes = baseline(session, out)  # warms the page cache for both
        length = export(session, out)
        shutil.rmtree(out)
        base, unsynced, done = [], [], []
        for _ in range(args.runs):  # interleaved, so all see the same machine
            base.append(timed(baseline, session, work))
            unsynced.append(timed(baseline_unsynced, session, work))
            done.append(timed(export, session, work))
        rss_base = peak_rss_mb("baseline", session, work)
        rss_export = peak_rss_mb("export", session, work)
    b, u, e = min(base), min(unsynced), min(done)
    print(
        f"baseline (orjson + base64 + soundfile, 2 mono WAVs): best {b:6.2f} s of "
        f"{' '.join(f'{x:.2f}' for x in base)}  {audio_bytes / 1e6:.0f} MB of audio, "
        f"peak RSS {rss_base:.0f} MB"
    )
    print(
        f"rt export wav (user, assistant, stereo mix):        best {e:6.2f} s of "
        f"{' '.join(f'{x:.2f}' for x in done)}  peak RSS {rss_export:.0f} MB"
    )
    print(
        f"the same baseline without fsync (stdlib wave):     best {u:6.2f} s of "
        f"{' '.join(f'{x:.2f}' for x in unsynced)}"
    )
    print(
        f"ratio export / baseline: {e / b:.2f}x (goal <= 1.5x); / baseline without fsync "
        f"{e / u:.2f}x"
    )
    print(
        f"speed: {length / e:.0f}x real time ({length / 60:.1f} min call in {e:.2f} s; "
        f"goal >= 2000x); baseline {length / b:.0f}x"
    )
    table, libsndfile = g711_decoders(min(seconds, 3600))
    print(
        f"G.711 decode of {min(seconds, 3600) / 60:g} min: lookup table {table * 1000:.0f} ms, "
        f"libsndfile RAW via BytesIO {libsndfile * 1000:.0f} ms"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
