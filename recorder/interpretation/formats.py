"""Which audio format is in effect at each moment of a session (pure).

The rule, one for every reader (show, stats, export, report, telemetry):

- the server's word is the base: `session.created` and each `session.updated` set the input and
  output formats they name (a message that names no format keeps the one before);
- a client `session.update` that asks for a format applies at once to what follows it (appends
  the client sends after it, responses created after it): the server applies a request before
  anything sent later, so audio sent before its `session.updated` arrives is already in the new
  format. While it is pending, a `session.created` (the state before any request) does not undo it;
- the `session.updated` that answers a request (the oldest pending one) replaces it with what
  the server confirmed; an `error` whose `event_id` names a pending request withdraws it;
- a response plays in the format set on the response itself (`response.created`, else the
  `response.create` that triggered it), else the session's output format when it was created.

Everything is decided when the frame arrives (nothing is revised later), so `rt tail`, the proxy's
live metrics and a reader of the whole file agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recorder.vocabulary import PCM16, AudioFormat, response_audio_format, session_audio_formats


@dataclass
class _Request:
    event_id: str | None
    input: AudioFormat | None
    output: AudioFormat | None


class AudioFormats:
    """The input and output formats in effect (see the module docstring)."""

    def __init__(self) -> None:
        self._confirmed_input = PCM16
        self._confirmed_output = PCM16
        self._pending: list[_Request] = []
        self.input = PCM16
        self.output = PCM16

    def client_update(self, event: Mapping[str, Any]) -> None:
        """A client `session.update` (a request)."""
        session = event.get("session")
        inp, out = session_audio_formats(session) if isinstance(session, Mapping) else (None, None)
        event_id = event.get("event_id")
        self._pending.append(_Request(event_id if isinstance(event_id, str) else None, inp, out))
        self._settle()

    def server_session(self, event: Mapping[str, Any], *, created: bool) -> None:
        """A server `session.created` (created=True) or `session.updated`."""
        session = event.get("session")
        inp, out = session_audio_formats(session) if isinstance(session, Mapping) else (None, None)
        if not created and self._pending:
            self._pending.pop(0)
        self._confirmed_input = inp or self._confirmed_input
        self._confirmed_output = out or self._confirmed_output
        self._settle()

    def server_error(self, event: Mapping[str, Any]) -> None:
        """A server `error`: it withdraws the pending request it names, if any."""
        error = event.get("error")
        event_id = error.get("event_id") if isinstance(error, Mapping) else None
        if not isinstance(event_id, str):
            return
        for index, request in enumerate(self._pending):
            if request.event_id == event_id:
                del self._pending[index]
                self._settle()
                return

    def for_response(
        self, created: Mapping[str, Any] | None, requested: Mapping[str, Any] | None
    ) -> AudioFormat:
        """The output format of a response created now: its own, its request's, the session's."""
        for response in (created, requested):
            found = response_audio_format(response) if response is not None else None
            if found is not None:
                return found
        return self.output

    def _settle(self) -> None:
        self.input, self.output = self._confirmed_input, self._confirmed_output
        for request in self._pending:
            self.input = request.input or self.input
            self.output = request.output or self.output
