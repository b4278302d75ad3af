"""recorder/wire.py: frames found in a byte stream however it is cut into reads, checked against
websockets' own frame encoder; masks; close frames."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.streams import StreamReader

from recorder.wire import (
    STREAM_FIRST,
    STREAM_LAST,
    STREAM_MORE,
    WHOLE,
    FrameCutter,
    close_frame,
    close_payload,
    unmask,
)

OPCODES = [Opcode.CONT, Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.PONG, Opcode.CLOSE]

frame_specs = st.lists(
    st.tuples(
        st.sampled_from(OPCODES),
        st.booleans(),
        st.sampled_from([0, 1, 7, 125, 126, 127, 300, 65535, 65536, 70_000]),
    ),
    min_size=1,
    max_size=12,
)


def encode(specs: list[tuple[Opcode, bool, int]], masked: bool) -> tuple[bytes, list[bytes]]:
    wire, payloads = b"", []
    for index, (opcode, fin, size) in enumerate(specs):
        if opcode in (Opcode.PING, Opcode.PONG, Opcode.CLOSE):
            fin, size = True, min(size, 125)
            if opcode is Opcode.CLOSE and size == 1:
                size = 2
        payload = bytes((index + i) % 251 for i in range(size))
        wire += WsFrame(opcode, payload, fin).serialize(mask=masked)
        payloads.append(payload)
    return wire, payloads


@settings(max_examples=150, deadline=None)
@given(specs=frame_specs, masked=st.booleans(), cuts=st.lists(st.integers(1, 40_000), max_size=30))
def test_frames_and_bytes_survive_any_cutting(specs, masked, cuts):
    wire, payloads = encode(specs, masked)
    cutter = FrameCutter(masked=masked, stream_above=1000)
    forwarded, found, streamed = b"", [], b""
    chunks, at = [], 0
    for size in cuts:
        chunks.append(wire[at : at + size])
        at += size
    chunks.append(wire[at:])
    for chunk in chunks:
        if not chunk:
            continue
        cut = cutter.cut(chunk)
        assert cut.violation is None
        forwarded += bytes(cut.buffer[: cut.forward])
        for frame in cut.frames:
            data = bytes(cut.buffer[frame.payload_start : frame.payload_end])
            if frame.mask is not None:
                data = unmask(data, frame.mask, frame.mask_offset)
            if frame.piece == WHOLE:
                assert frame.payload_end - frame.payload_start == frame.length
                found.append((frame.opcode, frame.fin, data))
            elif frame.piece == STREAM_FIRST:
                assert frame.length > 1000
                streamed = data
            else:
                assert frame.piece in (STREAM_MORE, STREAM_LAST)
                streamed += data
                if frame.piece == STREAM_LAST:
                    assert len(streamed) == frame.length
                    found.append((frame.opcode, frame.fin, streamed))
    assert forwarded == wire
    assert cutter.at_boundary and cutter.held_bytes == 0
    assert [data for _, _, data in found] == payloads
    assert [op for op, _, _ in found] == [int(op) for op, _, _ in specs]


def test_an_incomplete_small_frame_is_held_until_whole():
    wire = WsFrame(Opcode.TEXT, b"x" * 500).serialize(mask=True)
    cutter = FrameCutter(masked=True)
    first = cutter.cut(wire[:100])
    assert first.forward == 0 and not first.frames and cutter.held_bytes == 100
    second = cutter.cut(wire[100:])
    assert second.forward == len(wire) and bytes(second.buffer) == wire
    assert len(second.frames) == 1 and cutter.held_bytes == 0


@pytest.mark.parametrize(
    ("raw", "masked", "problem"),
    [
        (WsFrame(Opcode.TEXT, b"x").serialize(mask=False), True, "unmasked frame from a client"),
        (WsFrame(Opcode.TEXT, b"x").serialize(mask=True), False, "masked frame from a server"),
        (bytes([0xC1, 0x00]), False, "reserved bits"),
        (bytes([0x83, 0x00]), False, "reserved opcode"),
        (bytes([0x09, 0x00]), False, "control frame"),
        (bytes([0x89, 126, 0, 200]) + bytes(200), False, "control frame"),
        (bytes([0x82, 127]) + (1 << 63).to_bytes(8, "big"), False, "above 2**63"),
    ],
    ids=lambda value: "frame" if isinstance(value, bytes) else None,  # a mask is random
)
def test_protocol_violations_stop_the_cut(raw, masked, problem):
    good = WsFrame(Opcode.TEXT, b"ok").serialize(mask=masked)
    cut = FrameCutter(masked=masked).cut(good + raw)
    assert cut.forward == len(good) and len(cut.frames) == 1
    assert cut.violation is not None and problem in cut.violation


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 255, 256, 257, 6400, 100_003])
@pytest.mark.parametrize("offset", [0, 1, 2, 3, 6])
def test_unmask_matches_websockets(size, offset):
    data, mask = os.urandom(size), os.urandom(4)
    masked = WsFrame(Opcode.BINARY, data).serialize(mask=True)
    reader = StreamReader()
    reader.feed_data(masked)
    with pytest.raises(StopIteration) as parsed:
        next(WsFrame.parse(reader.read_exact, mask=True))
    assert parsed.value.value.data == data
    assert unmask(unmask(data, mask), mask) == data
    rotated = mask[offset % 4 :] + mask[: offset % 4]
    assert unmask(data, mask, offset) == unmask(data, rotated)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize(("code", "reason"), [(1000, ""), (1014, "gone ✓"), (None, "")])
def test_close_frames_are_what_websockets_parses(masked, code, reason):
    raw = close_frame(code, reason, masked=masked)
    reader = StreamReader()
    reader.feed_data(raw)
    with pytest.raises(StopIteration) as parsed:
        next(WsFrame.parse(reader.read_exact, mask=masked))
    frame = parsed.value.value
    assert frame.opcode is Opcode.CLOSE
    assert close_payload(frame.data) == ((1005, "") if code is None else (code, reason))
    cut = FrameCutter(masked=masked).cut(raw)
    assert cut.forward == len(raw) and cut.frames[0].opcode == 0x8
