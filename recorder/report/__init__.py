"""`rt report`: one self-contained HTML page over many session files.

    write_report(collect_stats(paths), "report.html", ReportOptions()) -> WrittenReport

Modules, pure unless marked:
    conversation      records -> turns and response times
    session_details   the one extra pass over each file: conversation and mix (reads files)
    audio_embed       the mix as small WAV bytes, and its waveform
    svg, charts       the charts as inline SVG
    assets            the stylesheet and script
    markup            tables, sections and how values read
    overview          the page's head and everything `rt stats` knows
    session_page      one session's section
    writer            streams the parts into the file, sections made in worker processes,
                      audio up to the page's budget (writes files)
"""

from recorder.report.writer import (
    DEFAULT_AUDIO_BUDGET_MB,
    DEFAULT_AUDIO_MINUTES,
    ReportOptions,
    WrittenReport,
    format_size,
    write_report,
)

__all__ = [
    "DEFAULT_AUDIO_BUDGET_MB",
    "DEFAULT_AUDIO_MINUTES",
    "ReportOptions",
    "WrittenReport",
    "format_size",
    "write_report",
]
