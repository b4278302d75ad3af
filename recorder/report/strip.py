"""A session's conversation strip: who talked when, over whom, and where the dead air was
(pure: the interpretation's `ConversationTiming` in, inline SVG out).

Two lanes on the call's clock, aligned with the session timeline above them (`charts.time_x`):
the user's and the assistant's talk spurts, talk-over marked across both lanes, each barge-in
marked where the user started, dead air shaded with its length. Every mark carries `data-t`, so
a click plays the call from there (the page's script), and a tooltip.
"""

from __future__ import annotations

from html import escape

from recorder.interpretation.conversation import ConversationTiming, Span
from recorder.report.charts import PLOT_LEFT, PLOT_RIGHT, WIDTH, time_x
from recorder.report.svg import element, num, svg, text, title

LANE_HEIGHT = 14.0
_TOP = 8.0
_GAP = 4.0
_MIN_WIDTH = 1.5  # a spurt shorter than this still shows


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value >= 10 else f"{value:.2f} s"


def _span(span: Span, seconds: float, top: float, height: float, css: str, tip: str) -> str:
    start, end = time_x(span[0], seconds), time_x(span[1], seconds)
    return element(
        "rect",
        title(tip),
        x=start,
        y=top,
        width=max(end - start, _MIN_WIDTH),
        height=height,
        class_=css,
        data_t=f"{span[0]:.3f}",
    )


def conversation_strip(timing: ConversationTiming, seconds: float, label: str) -> str:
    """The strip of one session, `seconds` long (the length of its timeline)."""
    user_top = _TOP
    assistant_top = user_top + LANE_HEIGHT + _GAP
    bottom = assistant_top + LANE_HEIGHT
    parts = [
        element(
            "rect",
            x=PLOT_LEFT,
            y=top,
            width=PLOT_RIGHT - PLOT_LEFT,
            height=LANE_HEIGHT,
            class_="lane",
        )
        + text(PLOT_LEFT - 10, top + LANE_HEIGHT - 3, name, class_="lane-label", text_anchor="end")
        for name, top in (("user", user_top), ("assistant", assistant_top))
    ]
    for start, end in timing.dead_air:
        parts.append(
            _span(
                (start, end),
                seconds,
                user_top,
                bottom - user_top,
                "dead-air",
                f"dead air {_seconds(end - start)} ({start:.2f}–{end:.2f} s)",
            )
        )
        middle = (time_x(start, seconds) + time_x(end, seconds)) / 2
        if time_x(end, seconds) - time_x(start, seconds) > 40:
            parts.append(
                text(
                    middle,
                    (user_top + bottom) / 2 + 4,
                    _seconds(end - start),
                    class_="dead-air-label",
                    text_anchor="middle",
                )
            )
    for who, top, spans in (
        ("user", user_top, timing.user),
        ("assistant", assistant_top, timing.assistant),
    ):
        for start, end in spans:
            tip = f"{who} talks {start:.2f}–{end:.2f} s ({_seconds(end - start)})"
            parts.append(_span((start, end), seconds, top, LANE_HEIGHT, f"talk talk-{who}", tip))
    for start, end in timing.overlaps:
        tip = f"talk-over {_seconds(end - start)} ({start:.2f}–{end:.2f} s)"
        parts.append(_span((start, end), seconds, user_top, bottom - user_top, "talk-over", tip))
    for barge_in in timing.barge_in_list:
        at = time_x(barge_in.t, seconds)
        tip = (
            f"barge-in at {barge_in.t:.2f} s: the assistant stopped {barge_in.stop_ms:.0f} ms "
            "after the user started"
        )
        parts.append(
            element(
                "path",
                title(tip),
                d=f"M{num(at - 5)} {num(user_top - 5)} h10 l-5 7 z",
                class_="barge-in",
                data_t=f"{barge_in.t:.3f}",
            )
        )
    return svg(
        WIDTH,
        bottom + 4,
        "".join(parts),
        label,
        class_="chart strip",
        data_seconds=f"{seconds:.6f}",
        data_left=PLOT_LEFT,
        data_right=PLOT_RIGHT,
    )


def strip_caption(timing: ConversationTiming) -> str:
    """The figures of the strip in one line (escaped HTML)."""
    parts = [
        f"user talked {_seconds(timing.user_talk_ms / 1000)}",
        f"assistant {_seconds(timing.assistant_talk_ms / 1000)}",
        f"talk-over {_seconds(timing.talk_over_ms / 1000)}",
    ]
    if timing.barge_ins:
        stop = timing.barge_in_stop_ms
        median = f", the assistant stopped after {stop:.0f} ms (median)" if stop is not None else ""
        parts.append(f"{timing.barge_ins} barge-in{'s' if timing.barge_ins != 1 else ''}{median}")
    else:
        parts.append("no barge-in")
    parts.append(f"dead air {_seconds(timing.dead_air_ms / 1000)}")
    parts.append(f"{timing.turns} turn{'s' if timing.turns != 1 else ''}")
    return f'<p class="note strip-caption">{escape(" · ".join(parts))}</p>'
