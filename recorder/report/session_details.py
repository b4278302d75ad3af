"""One pass over a session file for what the page shows beyond `rt stats`: the conversation
and the call's audio, from the frames of one `Interpreter`.

Lines that cannot be read are skipped silently here: `rt stats` has already read the same
file and reported them once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from recorder.audio import AudioCollector, Track, WarningHandler, mix_track, warn_with_python
from recorder.errors import InputError, SessionFormatError
from recorder.interpretation import Interpreter
from recorder.interpretation.conversation import ConversationTiming
from recorder.reading import iter_records
from recorder.report.conversation import Conversation, ConversationCollector
from recorder.session import decode_line
from recorder.warning_log import FileWarning

NAME_LINE_LIMIT = 1 << 20  # a session line is a few hundred bytes; never read a huge line whole


def read_session_name(path: str | os.PathLike[str]) -> str | None:
    """The readable `name` the session line (the first line) gives its session, if any: an
    optional field (docs/session-format.md). None when absent, or the file cannot be read."""
    try:
        with open(path, "rb") as fh:
            first = fh.readline(NAME_LINE_LIMIT)
        record = decode_line(first)
    except (OSError, SessionFormatError):
        return None
    name = record.get("name") if record.get("kind") == "session" else None
    return " ".join(name.split()) if isinstance(name, str) and name.strip() else None


@dataclass(frozen=True)
class SessionDetails:
    conversation: Conversation
    mix: Track | None  # stereo, user left and assistant right; None without audio
    timing: ConversationTiming | None = None  # who talked when, on the mix's timeline


def read_session_details(
    path: str | os.PathLike[str], on_warning: WarningHandler | None = None
) -> SessionDetails:
    """The conversation and the mix track of a session file.

    Odd audio is reported through `on_warning` naming the file and line; raises InputError
    when the file cannot be read.
    """
    name = os.fspath(path)
    interpreter = Interpreter(name)  # its notices were reported by `rt stats` already
    conversation = ConversationCollector()
    audio = AudioCollector(name, on_warning or warn_with_python, interpreter.connection)
    try:
        for line, record in iter_records(path, _ignore):
            frame = interpreter.feed(line, record)
            if frame is not None:
                conversation.feed(frame)
                audio.feed(frame)
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None
    facts = interpreter.finish()
    return SessionDetails(conversation.finish(facts), mix_track(audio.finish()), facts.conversation)


def _ignore(_: FileWarning) -> None:
    pass
