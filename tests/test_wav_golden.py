"""`rt export wav` writes the same samples as it did before the streaming export (issue 21).

`wav_golden.json` holds, for every sample session and a few generated sessions that mix
formats, rates, parallel and out-of-band responses, truncations, cancellations and damaged
payloads, the digest of each WAV's samples as the in-memory export of main wrote them (commit
0c3a5d5), and the warnings it gave. The test exports the same sessions with today's code, reads
the files back with soundfile and compares.

    python tests/test_wav_golden.py --write     # record the digests again (after a wanted change)
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from audio_fixtures import SessionBuilder, g711, pcm16, sine  # noqa: E402

from recorder import audio_render, audio_spool  # noqa: E402
from recorder.errors import InputError  # noqa: E402
from recorder.warning_log import FileWarning  # noqa: E402
from recorder.wav import export_wav  # noqa: E402

pytestmark = pytest.mark.slow  # every WAV of every sample and generated session

GOLDEN = HERE / "wav_golden.json"
SAMPLES = HERE.parent / "sample_sessions"
OPTIONS = {"all": {}, "split": {"split": True}, "heard": {"heard": True}}


def _payload(rng: random.Random, fmt: str, ms: int) -> bytes:
    rate = 24000 if fmt == "pcm16" else 8000
    samples = sine(rng.uniform(200, 900), ms, rate, rng.randint(2000, 14000))
    return pcm16(samples) if fmt == "pcm16" else g711(samples, fmt)


def generated_session(path: Path, seed: int, ga: bool) -> Path:
    """A session mixing what the export must handle: format changes both ways, a burst of
    appends, interleaved (parallel) and out-of-band responses, client and server truncations,
    a cancelled response without truncation, an odd byte count and invalid base64."""
    rng = random.Random(seed)
    formats = ["pcm16", "ulaw", "alaw"]
    b = SessionBuilder(ga=ga)
    user_fmt, out_fmt = rng.choice(formats), rng.choice(formats)
    b.session_created(0.0, input=user_fmt, output=out_fmt)
    t = 0.1
    for _ in range(rng.randint(60, 120)):
        if rng.random() < 0.05:
            user_fmt = rng.choice(formats)
            b.session_updated(t, input=user_fmt)
        data = _payload(rng, user_fmt, rng.choice((10, 20, 40, 60)))
        if rng.random() < 0.03 and user_fmt == "pcm16":
            data = data + b"\x01"  # odd byte count
        if rng.random() < 0.02:
            b.append(t, "not base64!")
        b.append(t + rng.uniform(0, 0.006), data)
        t += 0.0 if rng.random() < 0.1 else rng.uniform(0.015, 0.05)  # sometimes a burst
    at = rng.uniform(0.5, 1.5)
    for r in range(rng.randint(3, 6)):
        rid, other = f"resp_{seed}_{r}", f"resp_{seed}_{r}_side"
        if rng.random() < 0.2:
            out_fmt = rng.choice(formats)
            b.session_updated(at - 0.05, output=out_fmt)
        b.response_created(at - 0.1, rid)
        parallel = rng.random() < 0.4
        if parallel:
            b.frame(
                at - 0.09,
                "client",
                {"type": "response.create", "response": {"conversation": "none"}},
            )
            b.frame(
                at - 0.08,
                "server",
                {
                    "type": "response.created",
                    "response": {"id": other, "status": "in_progress", "conversation_id": None},
                },
            )
        items = [f"item_{seed}_{r}_{k}" for k in range(rng.randint(1, 2))]
        for item in items:
            for _ in range(rng.randint(3, 12)):
                b.delta(at, rid, item, _payload(rng, out_fmt, rng.choice((20, 40, 100))))
                if parallel and rng.random() < 0.5:
                    b.delta(at + 0.001, other, f"{item}_side", _payload(rng, out_fmt, 40))
                at += rng.uniform(0.005, 0.06)
            if rng.random() < 0.3:
                cut = rng.uniform(0, 1500)
                if rng.random() < 0.5:
                    b.truncate(at + 0.01, item, cut)
                else:
                    b.truncated(at + 0.01, item, cut)
        if rng.random() < 0.2:
            b.response_done(at + 0.02, rid, "cancelled", "turn_detected")
        else:
            b.response_done(at + 0.02, rid)
        if parallel:
            b.response_done(at + 0.03, other)
        at += rng.uniform(-0.5, 2.0)  # sometimes before the last one ended
    return b.write(path)


def sessions(directory: Path) -> dict[str, Path]:
    found = {p.name: p for p in sorted(SAMPLES.glob("*.jsonl"))}
    for seed in range(1, 7):
        name = f"generated-{seed}.jsonl"
        found[name] = generated_session(directory / name, seed, ga=seed % 3 != 0)
    return found


def digest(path: Path) -> dict[str, Any]:
    samples, rate = sf.read(path, dtype="int16", always_2d=True)
    data = np.ascontiguousarray(samples, dtype="<i2").tobytes()
    return {
        "rate": rate,
        "channels": samples.shape[1],
        "frames": samples.shape[0],
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def exports(directory: Path) -> dict[str, Any]:
    """Every session exported with every option: digests of the files, and the warnings."""
    result: dict[str, Any] = {}
    for name, session in sessions(directory).items():
        for option, kwargs in OPTIONS.items():
            out = directory / f"{name}.{option}"
            warnings: list[FileWarning] = []
            entry: dict[str, Any] = {}
            try:
                written = export_wav(session, out, on_warning=warnings.append, **kwargs)
            except InputError as exc:
                entry["error"] = str(exc).replace(str(session), name)
            else:
                entry["files"] = {w.path.name: digest(w.path) for w in written.written}
                entry["missing"] = [m.replace(str(session), name) for m in written.missing]
            entry["warnings"] = [str(w).replace(str(session), name) for w in warnings]
            result[f"{name} {option}"] = entry
    return result


@pytest.mark.parametrize("blocks", ["default", "tiny"])
def test_export_writes_the_samples_main_wrote(tmp_path, monkeypatch, blocks):
    """`tiny`: the audio spills to the spool's file after 4 KB, tracks are rendered 1,009
    frames at a time and interpolated 7 samples at a time, so every boundary is crossed."""
    if blocks == "tiny":
        monkeypatch.setattr(audio_spool, "IN_MEMORY_BYTES", 4096)
        monkeypatch.setattr(audio_spool, "_WRITE_BYTES", 1000)
        monkeypatch.setattr(audio_render, "BLOCK_FRAMES", 1009)
        monkeypatch.setattr(audio_render, "_INTERPOLATION_BLOCK", 7)
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    got = exports(tmp_path)
    assert sorted(got) == sorted(expected)
    for key in expected:
        assert got[key] == expected[key], key


def test_the_generated_sessions_hold_what_they_claim(tmp_path):
    """The golden set is worth something only if it covers the hard cases."""
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    warnings = " ".join(w for entry in expected.values() for w in entry["warnings"])
    for reason in ("not valid base64", "odd number of bytes", "changes from", "was cancelled"):
        assert reason in warnings
    rates = {f["rate"] for e in expected.values() for f in e.get("files", {}).values()}
    assert {8000, 24000} <= rates
    split_files = [
        f for k, e in expected.items() if k.endswith(" split") for f in e.get("files", {})
    ]
    assert any("_side" not in f and "resp_" in f for f in split_files)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python tests/test_wav_golden.py --write")
    with tempfile.TemporaryDirectory() as tmp:
        GOLDEN.write_text(json.dumps(exports(Path(tmp)), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
