"""The little SVG vocabulary the charts are written in: elements, numbers, axes (pure).

Every attribute value and text node goes through `html.escape`, so a chart never carries
markup from a recording. Colours are CSS classes (the page's stylesheet themes them for
light and dark), never inline styles, which the page's Content-Security-Policy forbids.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape


def num(value: float) -> str:
    """A coordinate: two decimals at most, no trailing zeros (keeps the page small)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def attrs(**values: object) -> str:
    """` key="value"` pairs; `class_` is `class`, `_` in names becomes `-`, None is left out."""
    parts = []
    for key, value in values.items():
        if value is None:
            continue
        name = "class" if key == "class_" else key.replace("_", "-")
        text = num(value) if isinstance(value, float) else str(value)
        parts.append(f' {name}="{escape(text, quote=True)}"')
    return "".join(parts)


def element(tag: str, body: str = "", **values: object) -> str:
    if body:
        return f"<{tag}{attrs(**values)}>{body}</{tag}>"
    return f"<{tag}{attrs(**values)}/>"


def text(x: float, y: float, content: str, **values: object) -> str:
    return f"<text{attrs(x=float(x), y=float(y), **values)}>{escape(content)}</text>"


def title(content: str) -> str:
    """A tooltip for the enclosing element (the browser shows it on hover, no script needed)."""
    return f"<title>{escape(content)}</title>"


def svg(width: float, height: float, body: str, label: str, **values: object) -> str:
    """A chart that scales to its container's width and keeps its proportions."""
    return (
        f"<svg{attrs(xmlns='http://www.w3.org/2000/svg', viewBox=f'0 0 {num(width)} {num(height)}', role='img', aria_label=label, **values)}>"
        f"{title(label)}{body}</svg>"
    )


def nice_step(span: float, target: int) -> float:
    """A step of 1, 2 or 5 times a power of ten giving about `target` steps over `span`."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(target, 1)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return float(factor * power)
    return float(10 * power)


def ticks(low: float, high: float, target: int = 6) -> list[float]:
    """Round values between `low` and `high` (both included when they are round)."""
    step = nice_step(high - low, target)
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return [round(i * step, 10) for i in range(first, last + 1)]


def tick_label(value: float, step: float) -> str:
    """`0.5`, `2`, `1500`: as many decimals as the step needs."""
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:.{decimals}f}"


def polyline(points: Sequence[tuple[float, float]]) -> str:
    """Path data through `points`."""
    return " ".join(f"{'M' if i == 0 else 'L'}{num(x)} {num(y)}" for i, (x, y) in enumerate(points))
