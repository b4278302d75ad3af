"""The report's charts as inline SVG (pure: numbers in, markup out; no script, no fonts, no URLs).

    histogram(values, ...)          latency distribution, bars coloured like `rt stats`' table
    session_timeline(...)           waveform lanes, one row per response, errors, on the call's clock
    percent_chart(series, ...)      rate limits: % remaining over time, one line per limit
    stacked_bars(bars, ...)         tokens per session, split by kind

Charts are drawn in a fixed coordinate space (`viewBox`) and scale to the page's width.
The session timeline maps seconds to x with `time_x`, the same mapping the page's script uses
to move the playhead while the audio plays.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from recorder.report.audio_embed import Waveform
from recorder.report.svg import (
    element,
    nice_step,
    num,
    polyline,
    svg,
    text,
    tick_label,
    ticks,
    title,
)

GOOD, WARN, SLOW = "good", "warn", "slow"
Thresholds = tuple[float, float]  # (good up to, slow from), as in `rt stats`

WIDTH = 1000.0
PLOT_LEFT = 112.0  # where a session's time axis starts: room for the row labels
PLOT_RIGHT = 985.0
_MIN_BINS = 6
_TEXT_WIDTH = 6.6  # of a character at the charts' 12 px, near enough to keep labels apart
_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)


def level(value: float | None, thresholds: Thresholds | None) -> str | None:
    """`good`, `warn` or `slow`: the colour `rt stats` gives a latency."""
    if value is None or thresholds is None:
        return None
    good, slow = thresholds
    return GOOD if value <= good else WARN if value <= slow else SLOW


# -- histogram ----------------------------------------------------------------------------------


def histogram(
    values: Sequence[float],
    label: str,
    *,
    unit: str = "ms",
    thresholds: Thresholds | None = None,
    markers: Mapping[str, float] | None = None,
) -> str:
    """Counts per bin of round width; dashed lines at `markers` (e.g. p50, p95)."""
    width, height = 640.0, 250.0
    left, right, top, bottom = 44.0, 24.0, 40.0, 42.0
    plot_w, plot_h = width - left - right, height - top - bottom
    low, high = min(values), max(values)
    step = nice_step(
        max(high - low, abs(high) * 0.1, 1.0), min(30, max(6, round(len(values) ** 0.5) + 4))
    )
    first = math.floor(low / step) * step
    bins = max(1, math.floor((high - first) / step) + 1)
    if bins < _MIN_BINS:  # a few equal values: centre them, rather than one bar wall to wall
        first = max(0.0, first - step * ((_MIN_BINS - bins) // 2))
        bins = max(bins, math.floor((high - first) / step) + 1, _MIN_BINS)
    edges = first + step * np.arange(bins + 1)
    counts = np.histogram(values, bins=edges)[0]
    peak = int(counts.max())

    def x(value: float) -> float:
        return left + (value - edges[0]) / (edges[-1] - edges[0]) * plot_w

    def y(count: float) -> float:
        return top + plot_h - count / peak * plot_h

    parts = []
    for count in ticks(0, peak, min(peak, 5)):
        if count != int(count):
            continue
        parts.append(
            element("line", x1=left, x2=width - right, y1=y(count), y2=y(count), class_="grid")
        )
        parts.append(text(left - 6, y(count) + 4, f"{count:.0f}", class_="tick", text_anchor="end"))
    for i, count in enumerate(counts):
        lo, hi = float(edges[i]), float(edges[i + 1])
        if count == 0:
            continue
        bar_class = " ".join(filter(None, ("bar", level((lo + hi) / 2, thresholds))))
        tip = f"{lo:g}–{hi:g} {unit}: {count} response{'s' if count != 1 else ''}"
        parts.append(
            element(
                "rect",
                title(tip),
                x=x(lo) + 0.5,
                y=y(count),
                width=max(x(hi) - x(lo) - 1, 1.0),
                height=top + plot_h - y(count),
                class_=bar_class,
            )
        )
    axis_step = nice_step(float(edges[-1] - edges[0]), 6)
    for value in ticks(float(edges[0]), float(edges[-1]), 6):
        parts.append(
            text(
                x(value),
                height - bottom + 16,
                tick_label(value, axis_step),
                class_="tick",
                text_anchor="middle",
            )
        )
    parts.append(
        element("line", x1=left, x2=width - right, y1=top + plot_h, y2=top + plot_h, class_="axis")
    )
    parts.append(
        text(left + plot_w / 2, height - 6, unit, class_="axis-label", text_anchor="middle")
    )
    for i, (name, value) in enumerate((markers or {}).items()):
        at = x(value)
        label_y = 14.0 + 14 * i  # one line per marker, so close markers never overlap
        parts.append(
            element(
                "line", x1=at, x2=at, y1=label_y + 4, y2=top + plot_h, class_=f"marker marker-{i}"
            )
        )
        anchor = "end" if at > left + plot_w * 0.8 else "start"
        shift = -4 if anchor == "end" else 4
        parts.append(
            text(
                at + shift,
                label_y,
                f"{name} {value:.0f} {unit}",
                class_=f"marker-label marker-{i}",
                text_anchor=anchor,
            )
        )
    return svg(width, height, "".join(parts), label, class_="chart histogram")


# -- session timeline ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineRow:
    """One response on the call's clock, in seconds since the session started."""

    label: str
    start_t: float  # what triggered it
    first_t: float | None  # its first output
    end_t: float | None  # its audio played out, or its last event
    speech_end_t: float | None  # when the user stopped talking (server VAD)
    wait_level: str | None
    wait_text: str
    tooltip: str
    cancelled: bool = False


@dataclass(frozen=True)
class Marker:
    t: float
    tooltip: str


def time_x(t: float, seconds: float) -> float:
    return PLOT_LEFT + min(max(t / seconds, 0.0), 1.0) * (PLOT_RIGHT - PLOT_LEFT)


def session_timeline(
    seconds: float,
    rows: Sequence[TimelineRow],
    *,
    user: Waveform | None = None,
    assistant: Waveform | None = None,
    audio_seconds: float | None = None,
    errors: Sequence[Marker] = (),
    label: str = "Session timeline",
) -> str:
    """Waveform lanes (user, assistant) over one row per response and a row of errors.

    `audio_seconds` is how much of the audio the page embeds: the lanes are dimmed past it.
    """
    lane_h, row_h, axis_h = 44.0, 24.0, 28.0
    parts: list[str] = []
    y = 8.0
    lanes = [
        (name, wave)
        for name, wave in (("user", user), ("assistant", assistant))
        if wave is not None
    ]
    peak = max([0.05] + [float(max(-w.low.min(), w.high.max())) for _, w in lanes])
    for name, wave in lanes:
        parts.append(_lane(name, wave, y, lane_h, peak))
        y += lane_h + 4
    if lanes and audio_seconds is not None and audio_seconds < seconds:
        cut = time_x(audio_seconds, seconds)
        parts.append(
            element(
                "rect",
                title(f"audio past {_clock(audio_seconds)} is not embedded"),
                x=cut,
                y=8.0,
                width=PLOT_RIGHT - cut,
                height=y - 12,
                class_="not-embedded",
            )
        )
    if errors:
        for marker in errors:
            at = time_x(marker.t, seconds)
            tip = title(f"{marker.t:.3f} s: {marker.tooltip}")
            parts.append(
                element("path", tip, d=f"M{num(at)} {num(y + 3)} l6 10 h-12 z", class_="error-mark")
            )
        parts.append(text(PLOT_LEFT - 10, y + 12, "errors", class_="lane-label", text_anchor="end"))
        y += 18
    for row in rows:
        parts.append(_response_row(row, y, row_h, seconds))
        y += row_h
    grid_top, grid_bottom = 4.0, y + 2
    grid = []
    step = _time_step(seconds, 10)
    for value in (i * step for i in range(int(seconds / step + 1e-9) + 1)):
        at = time_x(value, seconds)
        grid.append(element("line", x1=at, x2=at, y1=grid_top, y2=grid_bottom, class_="grid"))
        grid.append(
            text(at, grid_bottom + 16, _clock(value, step), class_="tick", text_anchor="middle")
        )
    height = grid_bottom + axis_h
    playhead = element(
        "line", x1=PLOT_LEFT, x2=PLOT_LEFT, y1=grid_top, y2=grid_bottom, class_="playhead"
    )
    body = "".join(grid) + "".join(parts) + playhead
    return svg(
        WIDTH,
        height,
        body,
        label,
        class_="chart timeline",
        data_seconds=f"{seconds:.6f}",
        data_left=PLOT_LEFT,
        data_right=PLOT_RIGHT,
    )


def _lane(name: str, wave: Waveform, top: float, height: float, peak: float) -> str:
    mid, half = top + height / 2, height / 2 - 1
    columns = len(wave.high)
    xs = PLOT_LEFT + (np.arange(columns) + 0.5) / columns * (PLOT_RIGHT - PLOT_LEFT)
    upper = mid - np.clip(wave.high / peak, 0, 1) * half
    lower = mid - np.clip(wave.low / peak, -1, 0) * half
    # a silent column still shows as a hairline, so the lane reads as "nothing said here"
    upper = np.minimum(upper, mid - 0.4)
    lower = np.maximum(lower, mid + 0.4)
    outline = list(zip(xs.tolist(), upper.tolist(), strict=True)) + list(
        zip(xs[::-1].tolist(), lower[::-1].tolist(), strict=True)
    )
    return (
        element(
            "rect", x=PLOT_LEFT, y=top, width=PLOT_RIGHT - PLOT_LEFT, height=height, class_="lane"
        )
        + element("path", d=polyline(outline) + " Z", class_=f"wave wave-{name}")
        + text(PLOT_LEFT - 10, mid + 4, name, class_="lane-label", text_anchor="end")
    )


def _response_row(row: TimelineRow, top: float, height: float, seconds: float) -> str:
    mid = top + height / 2
    start = time_x(row.start_t, seconds)
    parts = [
        title(row.tooltip),
        text(PLOT_LEFT - 10, mid + 4, row.label, class_="row-label", text_anchor="end"),
    ]
    if row.speech_end_t is not None and row.speech_end_t < row.start_t:
        heard = time_x(row.speech_end_t, seconds)
        parts.append(element("line", x1=heard, x2=start, y1=mid, y2=mid, class_="vad-wait"))
        parts.append(element("circle", cx=heard, cy=mid, r=2.5, class_="speech-end"))
    last = start
    if row.first_t is not None:
        first = time_x(row.first_t, seconds)
        wait_class = " ".join(filter(None, ("wait", row.wait_level)))
        parts.append(
            element(
                "rect",
                x=start,
                y=mid - 5,
                width=max(first - start, 1.5),
                height=10.0,
                rx=2.0,
                class_=wait_class,
            )
        )
        last = first
        if row.end_t is not None and row.end_t > row.first_t:
            end = time_x(row.end_t, seconds)
            out_class = "output cancelled" if row.cancelled else "output"
            parts.append(
                element(
                    "rect",
                    x=first,
                    y=mid - 5,
                    width=max(end - first, 1.5),
                    height=10.0,
                    rx=2.0,
                    class_=out_class,
                )
            )
            last = end
    parts.append(element("circle", cx=start, cy=mid, r=3.0, class_="trigger"))
    first_x = start if row.speech_end_t is None else min(start, time_x(row.speech_end_t, seconds))
    room_right, room_left = PLOT_RIGHT - last - 8, first_x - 8 - PLOT_LEFT
    if room_right >= _TEXT_WIDTH * len(row.wait_text) or room_right >= room_left:
        parts.append(text(last + 8, mid + 4, row.wait_text, class_="row-note"))
    else:
        parts.append(
            text(first_x - 8, mid + 4, row.wait_text, class_="row-note", text_anchor="end")
        )
    return element("g", "".join(parts), class_="response-row", data_t=f"{row.start_t:.3f}")


def _time_step(seconds: float, target: int) -> float:
    raw = seconds / max(target, 1)
    for step in _TIME_STEPS:
        if raw <= step:
            return float(step)
    return float(_TIME_STEPS[-1])


def _clock(seconds: float, step: float = 1.0) -> str:
    """`0:05`, `1:30`, `1:02:00` (and `0:02.5` when the step is below a second)."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
    if step < 1:
        text += f"{seconds - whole:.1f}"[1:]
    return text


# -- rate limits ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float, str]]  # (x, percent remaining, tooltip)


def percent_chart(
    series: Sequence[Series], label: str, *, wall_clock: bool, max_dots: int = 400
) -> str:
    """Percent remaining over time, as steps (a limit holds until the next update).

    Each update is a dot with a tooltip, up to `max_dots` per limit (beyond that, the line).
    x is epoch seconds with `wall_clock`, else seconds since the session started. The bands
    below 25 % and 10 % are tinted like `rt stats` colours `min %`.
    """
    width, height = WIDTH, 260.0
    left, right, top, bottom = 56.0, 130.0, 14.0, 40.0
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [p[0] for s in series for p in s.points]
    low, high = min(xs), max(xs)
    if high - low < 1e-9:
        low, high = low - 1, high + 1

    def x(value: float) -> float:
        return left + (value - low) / (high - low) * plot_w

    def y(percent: float) -> float:
        return top + plot_h - min(max(percent, 0.0), 100.0) / 100 * plot_h

    parts = [
        element("rect", x=left, y=y(25), width=plot_w, height=y(10) - y(25), class_="band-warn"),
        element("rect", x=left, y=y(10), width=plot_w, height=y(0) - y(10), class_="band-slow"),
    ]
    for grid_line in (0.0, 25.0, 50.0, 75.0, 100.0):
        at = y(grid_line)
        parts.append(element("line", x1=left, x2=left + plot_w, y1=at, y2=at, class_="grid"))
        parts.append(text(left - 6, at + 4, f"{grid_line:.0f}%", class_="tick", text_anchor="end"))
    step = _time_step(high - low, 8)
    first_tick = math.ceil(low / step) * step
    for i in range(int((high - first_tick) / step) + 1):
        value = first_tick + i * step
        tick = _wall_clock(value) if wall_clock else _clock(value, step)
        parts.append(
            text(x(value), height - bottom + 16, tick, class_="tick", text_anchor="middle")
        )
    axis = "time since the session started"
    if wall_clock:
        axis = f"time (UTC, {dt.datetime.fromtimestamp(low, dt.timezone.utc):%Y-%m-%d})"
    parts.append(
        text(left + plot_w / 2, height - 6, axis, class_="axis-label", text_anchor="middle")
    )
    for index, one in enumerate(series):
        css = f"series series-{index % 4}"
        steps: list[tuple[float, float]] = []
        for i, (px, percent, _) in enumerate(one.points):
            if i:
                steps.append((x(px), steps[-1][1]))
            steps.append((x(px), y(percent)))
        parts.append(element("path", d=polyline(steps), class_=f"{css} line"))
        for px, percent, tip in one.points if len(one.points) <= max_dots else ():
            parts.append(
                element("circle", title(tip), cx=x(px), cy=y(percent), r=3.0, class_=f"{css} dot")
            )
        if one.points:
            last_y = y(one.points[-1][1])
            parts.append(
                text(
                    left + plot_w + 10,
                    last_y + 4 + 14 * _overlaps(series, index),
                    f"{one.name} {one.points[-1][1]:.0f}%",
                    class_=f"{css} legend",
                )
            )
    return svg(width, height, "".join(parts), label, class_="chart rate-limits")


def _overlaps(series: Sequence[Series], index: int) -> int:
    """How many earlier end labels this line's end label would overlap (it moves down as many)."""
    ends = [s.points[-1][1] for s in series if s.points]
    mine = series[index].points[-1][1]
    return sum(1 for other in ends[:index] if abs(other - mine) < 8)


def _wall_clock(epoch: float) -> str:
    return f"{dt.datetime.fromtimestamp(epoch, dt.timezone.utc):%H:%M:%S}"


# -- stacked bars ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    value: float
    kind: str  # CSS class of the colour
    tooltip: str


@dataclass(frozen=True)
class Bar:
    label: str
    segments: Sequence[Segment]
    note: str  # right of the bar
    href: str | None = None


BAR_LABEL_CHARS = 32  # longer row labels are cut with "…" (whole in their tooltip)


def stacked_bars(bars: Sequence[Bar], label: str, legend: Sequence[tuple[str, str]]) -> str:
    """One horizontal bar per row, its segments side by side, all on one scale. The labels'
    column is as wide as the longest label (up to BAR_LABEL_CHARS), so none is cut off."""
    longest = max((min(len(bar.label), BAR_LABEL_CHARS) for bar in bars), default=0)
    width, row_h, right, top = WIDTH, 22.0, 190.0, 26.0
    left = max(80.0, 16 + _TEXT_WIDTH * longest)
    plot_w = width - left - right
    peak = max([sum(s.value for s in bar.segments) for bar in bars] + [1e-9])
    parts = []
    at = left
    for kind, name in legend:
        parts.append(
            element("rect", x=at, y=4.0, width=10.0, height=10.0, rx=2.0, class_=f"seg {kind}")
        )
        parts.append(text(at + 14, 13, name, class_="legend-text"))
        at += 24 + 7 * len(name)
    for i, bar in enumerate(bars):
        y = top + i * row_h
        shown = bar.label
        if len(shown) > BAR_LABEL_CHARS:
            shown = shown[: BAR_LABEL_CHARS - 1] + "…"
        row = [
            title(bar.label),
            text(left - 8, y + 15, shown, class_="row-label", text_anchor="end"),
        ]
        x = left
        for segment in bar.segments:
            if segment.value <= 0:
                continue
            w = segment.value / peak * plot_w
            row.append(
                element(
                    "rect",
                    title(segment.tooltip),
                    x=x,
                    y=y + 4,
                    width=max(w, 0.5),
                    height=14.0,
                    class_=f"seg {segment.kind}",
                )
            )
            x += w
        row.append(text(x + 8, y + 15, bar.note, class_="row-note"))
        group = element("g", "".join(row), class_="bar-row")
        parts.append(element("a", group, href=bar.href) if bar.href else group)
    height = top + len(bars) * row_h + 6
    return svg(width, height, "".join(parts), label, class_="chart bars")
