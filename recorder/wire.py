"""WebSocket frames on the wire (RFC 6455 §5), for a proxy that forwards bytes, not messages
(pure: bytes in, frame positions out, no I/O).

The recording proxy never re-encodes what it relays: after the HTTP upgrade it writes what one
side sent to the other side byte for byte (the client's masks and fragmentation included), and
reads the frames only to record them. `FrameCutter` is that reading: it walks the frame headers
of one direction's byte stream and says where each frame's payload lies in the bytes received,
without copying them:

    cutter = FrameCutter(masked=True)          # frames from a client are masked
    cut = cutter.cut(data)                     # data: what one read returned
    transport.write(cut.buffer[:cut.forward])  # whole frames (and streamed pieces) go on
    for frame in cut.frames: ...               # each frame's opcode, fin and payload position

A frame whose end has not arrived is held back (`cut.forward` stops before it) until it is
whole, so that the proxy can always insert a frame of its own (a close) between two frames; a
frame above `stream_above` bytes is forwarded in pieces as they come (`STREAM_*` pieces) so
that memory stays bounded, whatever a peer sends.
"""

from __future__ import annotations

import os
import struct
from typing import NamedTuple

import numpy as np

CONT, TEXT, BINARY = 0x0, 0x1, 0x2
CLOSE, PING, PONG = 0x8, 0x9, 0xA
DATA_OPCODES = frozenset({CONT, TEXT, BINARY})
CONTROL_OPCODES = frozenset({CLOSE, PING, PONG})
NO_STATUS = 1005  # a close frame without a code (RFC 6455 §7.1.5)
DEFAULT_STREAM_ABOVE = 1 << 20  # frames above this size are forwarded before they are whole

# How a frame's payload lies in one `Cut`: all of it, or one piece of a streamed frame.
WHOLE, STREAM_FIRST, STREAM_MORE, STREAM_LAST = 0, 1, 2, 3


class Frame(NamedTuple):
    """One frame (or one piece of a streamed frame) in `Cut.buffer`."""

    first_byte: int  # FIN, RSV1-3 and the opcode
    head_start: int  # where its header starts (== payload_start for STREAM_MORE/LAST)
    payload_start: int
    payload_end: int
    mask: bytes | None  # the masking key, or None for an unmasked frame
    mask_offset: int  # the payload offset of payload_start within the frame (streamed pieces)
    piece: int  # WHOLE, STREAM_FIRST, STREAM_MORE or STREAM_LAST
    length: int  # the whole frame's payload length

    @property
    def opcode(self) -> int:
        return self.first_byte & 0x0F

    @property
    def fin(self) -> bool:
        return bool(self.first_byte & 0x80)


class Cut(NamedTuple):
    buffer: bytes | bytearray  # what was received (with any bytes held from before)
    forward: int  # buffer[:forward] may be forwarded: whole frames and streamed pieces
    frames: list[Frame]
    violation: str | None  # a protocol error at buffer[forward]: nothing after it was read


class FrameCutter:
    """Finds the frames in one direction of a WebSocket byte stream (see the module docstring).

    `masked` says whether every frame must be masked (frames from a client) or none may be
    (frames from a server); either mistake, reserved bits or opcodes, and oversized or fragmented
    control frames are protocol violations (`Cut.violation`), after which nothing more is cut.
    """

    def __init__(self, *, masked: bool, stream_above: int = DEFAULT_STREAM_ABOVE) -> None:
        self.masked = masked
        self.stream_above = stream_above
        self._held: bytearray | None = None
        # the frame being streamed: its first byte, mask, length, and payload bytes still due
        self._streaming: tuple[int, bytes | None, int] | None = None
        self._stream_done = 0
        self._stream_left = 0
        self.violation: str | None = None

    @property
    def at_boundary(self) -> bool:
        """Whether everything forwarded so far ends with a whole frame (nothing is streaming)."""
        return self._streaming is None

    @property
    def held_bytes(self) -> int:
        return 0 if self._held is None else len(self._held)

    def cut(self, data: bytes) -> Cut:
        if self.violation is not None:
            return Cut(data, 0, [], self.violation)
        frames: list[Frame] = []
        if self._held is not None:
            self._held += data
            buf: bytes | bytearray = self._held
            self._held = None
        else:
            buf = data
        size = len(buf)
        pos = 0
        if self._streaming is not None:
            pos = self._continue_stream(buf, frames)
        mask_bit = 0x80 if self.masked else 0
        masked = self.masked
        while pos < size:
            if size - pos < 2:
                break
            first = buf[pos]
            second = buf[pos + 1]
            length = second & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                (length,) = struct.unpack_from("!Q", buf, pos + 2)
                head = 10
            mask = None
            if second & 0x80:
                if size - pos < head + 4:
                    break
                mask = bytes(buf[pos + head : pos + head + 4])
                head += 4
            if not _PLAIN[first] or (second & 0x80) != mask_bit or length >> 63:
                problem = _problem(first, length, second & 0x80, masked)
                if problem is not None:
                    self.violation = problem
                    return Cut(buf, pos, frames, problem)
            start = pos + head
            end = start + length
            if end <= size:
                frames.append(_new(Frame, (first, pos, start, end, mask, 0, WHOLE, length)))
                pos = end
                continue
            if length > self.stream_above:  # forward what has come; the rest as it comes
                frames.append(Frame(first, pos, start, size, mask, 0, STREAM_FIRST, length))
                self._streaming = (first, mask, length)
                self._stream_done = size - start
                self._stream_left = end - size
                pos = size
            break
        if pos < size:
            self._held = bytearray(buf[pos:])
        return Cut(buf, pos, frames, None)

    def _continue_stream(self, buf: bytes | bytearray, frames: list[Frame]) -> int:
        assert self._streaming is not None
        first, mask, length = self._streaming
        take = min(self._stream_left, len(buf))
        last = take == self._stream_left
        piece = STREAM_LAST if last else STREAM_MORE
        frames.append(Frame(first, 0, 0, take, mask, self._stream_done, piece, length))
        self._stream_done += take
        self._stream_left -= take
        if last:
            self._streaming = None
        return take


_new = tuple.__new__  # a NamedTuple without its __new__'s keyword handling: half the cost
# First bytes of frames that need no further check: FIN or not, no RSV bit, a data opcode.
_PLAIN = [bool(b & 0x70 == 0 and b & 0x0F in DATA_OPCODES) for b in range(256)]


def _problem(first: int, length: int, is_masked: int, must_be_masked: bool) -> str | None:
    opcode = first & 0x0F
    if first & 0x70:
        return "reserved bits set (no extension was negotiated)"
    if opcode not in DATA_OPCODES and opcode not in CONTROL_OPCODES:
        return f"reserved opcode {opcode:#x}"
    if opcode in CONTROL_OPCODES and (length > 125 or not first & 0x80):
        return "a control frame longer than 125 bytes or fragmented"
    if length >> 63:
        return "a frame length above 2**63"
    if bool(is_masked) != must_be_masked:
        return (
            "an unmasked frame from a client" if must_be_masked else "a masked frame from a server"
        )
    return None


# -- payloads --------------------------------------------------------------------------------

_U32 = np.uint32


def unmask(data: bytes | bytearray | memoryview, mask: bytes, offset: int = 0) -> bytearray:
    """`data` XOR the masking key (RFC 6455 §5.3), starting `offset` bytes into the payload,
    as a new bytearray.

    numpy does the XOR, four bytes at a time in place (a public, vectorised API: about 2 µs for a
    6 KB frame); below 64 bytes a plain loop is quicker than numpy's fixed cost.
    """
    if offset & 3:
        mask = mask[offset & 3 :] + mask[: offset & 3]
    out = bytearray(data)
    size = len(out)
    whole = size & ~3
    if size >= 64:
        words = np.frombuffer(out, _U32, whole >> 2)
        words ^= np.frombuffer(mask, _U32)[0]
        start = whole
    else:
        start = 0
    for index in range(start, size):
        out[index] ^= mask[index & 3]
    return out


def close_payload(payload: bytes | bytearray) -> tuple[int, str]:
    """The code and reason of a close frame's payload: (1005, "") when it has no code."""
    if len(payload) < 2:
        return NO_STATUS, ""
    code = int.from_bytes(payload[:2], "big")
    return code, payload[2:].decode("utf-8", "replace")


def close_frame(code: int | None, reason: str = "", *, masked: bool) -> bytes:
    """A close frame; `masked` for one sent to a server (with a fresh random key)."""
    payload = b"" if code is None else code.to_bytes(2, "big") + reason.encode("utf-8")[:123]
    head = bytes((0x80 | CLOSE, (0x80 if masked else 0) | len(payload)))
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(unmask(payload, mask))
