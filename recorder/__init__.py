"""rt: record, replay, analyse and export OpenAI Realtime API WebSocket sessions.

The library never imports click, never prints and never exits; the `cli` package does that.
"""

__version__ = "0.1.0"
