"""Decoded audio kept aside while a session is read: in memory up to a bound, then in a file.

`recorder.audio` decodes each append and delta once, as it reads the session, and keeps the
bytes here; the tracks read back only the stretch they are writing. A long call therefore costs
the bytes of its audio on disk, not in memory. The file is an unnamed temporary file (no one
else can open it, and it vanishes with the process), readable by its owner only: it holds the
users' voices.
"""

from __future__ import annotations

import os
import tempfile

IN_MEMORY_BYTES = 16 * 2**20  # a few minutes of pcm16 stay in memory; longer calls spill to disk
_WRITE_BYTES = 2**20  # once spilled, bytes go to the file in writes of about this size
try:  # pieces in one writev (Linux: 1024; POSIX guarantees at least 16)
    _IOV_MAX = max(16, min(1024, os.sysconf("SC_IOV_MAX")))
except (ValueError, OSError, AttributeError):
    _IOV_MAX = 16


class Spool:
    """Append-only bytes; `add` returns where they start, `read` gets any stretch back."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self._directory = directory
        self._pending: list[bytes] = []  # added, not yet in the file (or joined in memory)
        self._pending_size = 0
        self._memory = b""  # everything, while the spool has no file
        self._file: int | None = None  # the descriptor, once spilled
        self.size = 0

    def add(self, data: bytes) -> int:
        offset = self.size
        self._pending.append(data)
        self._pending_size += len(data)
        self.size += len(data)
        if self._pending_size > (IN_MEMORY_BYTES if self._file is None else _WRITE_BYTES):
            self._flush()
        return offset

    def read(self, offset: int, size: int) -> bytes:
        if self._file is None:
            if self._pending:
                self._memory = b"".join([self._memory, *self._pending])
                self._pending, self._pending_size = [], 0
            return self._memory[offset : offset + size]
        if self._pending:
            self._flush()
        data = os.pread(self._file, size, offset)
        while len(data) < size:  # pread may return less only at a signal; go on from there
            more = os.pread(self._file, size - len(data), offset + len(data))
            if not more:
                raise OSError(f"audio spool ends at {offset + len(data)}, not {offset + size}")
            data += more
        return data

    def _flush(self) -> None:
        """Write what is held in memory to the file (made on the first call)."""
        if self._file is None:
            with tempfile.TemporaryFile(prefix=".rt-audio-", dir=self._directory) as handle:
                self._file = os.dup(handle.fileno())  # keeps the unnamed file open
            if self._memory:
                self._pending.insert(0, self._memory)
                self._memory = b""
        pending, self._pending, self._pending_size = self._pending, [], 0
        for first in range(0, len(pending), _IOV_MAX):  # gathered writes: no joined copy
            pieces = pending[first : first + _IOV_MAX]
            done = os.writev(self._file, pieces)
            total = sum(len(piece) for piece in pieces)
            if done < total:  # a short write (a signal, a full disk): the rest one by one
                with memoryview(b"".join(pieces)) as view:
                    while done < total:
                        done += os.write(self._file, view[done:])

    def close(self) -> None:
        if self._file is not None:
            os.close(self._file)
            self._file = None
        self._pending, self._pending_size, self._memory = [], 0, b""

    def __del__(self) -> None:
        self.close()
