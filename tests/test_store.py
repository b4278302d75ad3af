import io
import os
import stat

import pytest

from recorder.errors import SessionFormatError
from recorder.reading import iter_records
from recorder.session import close_record, decode_line
from recorder.store import SessionWriter, create_session_file


def test_writer_writes_every_frame_in_order(tmp_path):
    path, fh = create_session_file(tmp_path / "new", "20260101T000000.000000Z-abcd")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    writer = SessionWriter(fh, path=path)
    for i in range(1000):
        writer.frame("client" if i % 2 else "server", f'{{"type":"x","i":{i}}}', i / 1000)
    writer.record(close_record(1.0, "client", 1000, ""))
    writer.close()
    records = [r for _, r in iter_records(path)]
    assert [r["seq"] for r in records[:-1]] == list(range(1000))
    assert [r["event"]["i"] for r in records[:-1]] == list(range(1000))
    assert records[-1]["kind"] == "close"
    assert writer.frames_written == 1000 and writer.frames_lost == 0


def test_create_session_file_never_overwrites_and_sanitises(tmp_path):
    path, fh = create_session_file(tmp_path, "../../etc/x")
    fh.close()
    assert path.parent == tmp_path
    with pytest.raises(FileExistsError):
        create_session_file(tmp_path, "../../etc/x")


def test_reader_skips_bad_lines_with_one_warning_each(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(
        '{"kind":"frame","seq":0,"t":0.1,"from":"client","event":{"type":"a"}}\n'
        "garbage\n"
        "\n"
        '{"kind":"frame","seq":1,"t":0.2,"from":"server","event":{"type":"b"}}\n'
        '{"kind":"frame","seq":2,"t":0.3,"from":"ser'
    )
    warnings: list[SessionFormatError] = []
    records = list(iter_records(path, warnings.append))
    assert [n for n, _ in records] == [1, 4]
    assert [(w.line, w.reason) for w in warnings] == [
        (2, warnings[0].reason),
        (5, "incomplete last line (cut off)"),
    ]
    assert str(warnings[1]).startswith(f"{path}:5: ")


class FailingFile(io.RawIOBase):
    """A file object whose writes fail like a full disk (only the file is a test double)."""

    def __init__(self, fail_after: int) -> None:
        self.fail_after = fail_after
        self.data = b""

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        if len(self.data) >= self.fail_after:
            raise OSError(28, "No space left on device")
        self.data += bytes(b)
        return len(b)


def test_write_failure_is_reported_once_and_counted():
    errors: list[BaseException] = []
    fh = FailingFile(fail_after=10)
    writer = SessionWriter(fh, on_error=errors.append, flush_interval=0.01)  # type: ignore[arg-type]
    writer.frame("client", '{"type":"a"}', 0.0)
    writer.close()
    assert errors == []
    fh2 = FailingFile(fail_after=0)
    writer = SessionWriter(fh2, on_error=errors.append, flush_interval=0.01)  # type: ignore[arg-type]
    for i in range(5):
        writer.frame("client", '{"type":"a"}', i)
    writer.close()
    assert len(errors) == 1 and writer.failed is not None
    assert writer.frames_lost == 5
    decode_line(fh.data)
