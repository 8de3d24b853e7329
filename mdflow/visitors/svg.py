"""Charts as inline SVG text for the report page: histograms, bars, box plots, a heatmap.

Hand-written on purpose: no plotting library to import (matplotlib takes ~0.5 s and writes
every glyph as a path: ~10x the bytes), crisp at any width, and the numbers stay readable
text in the page. Every label is escaped; nothing refers to anything outside the SVG.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

W, H = 260, 150  # one chart of a grid: three fit the MLflow UI's ~900 px artifact pane
PAD_L, PAD_R, PAD_T, PAD_B = 40, 8, 18, 26
BLUE, ORANGE, GREY = "#4c72b0", "#dd8452", "#8c8c8c"
PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3")


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def short(x: float) -> str:
    """An axis label: 4 significant digits, k/M/G for large numbers, never e-notation from
    1e-3 up."""
    if x != x:
        return ""
    a = abs(x)
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e4, "k")):
        if a >= scale:
            return f"{x / scale:.4g}{unit}" if a < 1e15 else f"{x:.3g}"
    return f"{x:.4g}" if a >= 1e-3 or a == 0 else f"{x:.2g}"


def _frame(title: str, body: list[str], width: int = W, height: int = H) -> str:
    head = (
        f'<svg viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" font-family="sans-serif" font-size="10">'
        f"<title>{esc(title)}</title>"
        f'<text x="{width / 2:.0f}" y="12" text-anchor="middle" font-weight="bold">'
        f"{esc(title[:40])}</text>"
    )
    return head + "".join(body) + "</svg>"


def _axes(lo: float, hi: float, top: float, width: int = W, height: int = H) -> list[str]:
    """x labels at both ends, the top count on the y axis, the two axis lines."""
    x0, x1, y0, y1 = PAD_L, width - PAD_R, height - PAD_B, PAD_T
    return [
        f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#333"/>',
        f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#333"/>',
        f'<text x="{x0}" y="{y0 + 12}">{esc(short(lo))}</text>',
        f'<text x="{x1}" y="{y0 + 12}" text-anchor="end">{esc(short(hi))}</text>',
        f'<text x="{x0 - 3}" y="{y1 + 8}" text-anchor="end">{esc(short(top))}</text>',
        f'<text x="{x0 - 3}" y="{y0}" text-anchor="end">0</text>',
    ]


def histogram(
    title: str, counts: Sequence[float], edges: Sequence[float], overlay: Sequence[float] = ()
) -> str:
    """Bars of `counts` between `edges`; `overlay` (same bins, e.g. a baseline) as a line."""
    top = max([*counts, *overlay, 1])
    x0, y0 = PAD_L, H - PAD_B
    bw = (W - PAD_L - PAD_R) / max(len(counts), 1)
    ph = H - PAD_B - PAD_T
    body = _axes(edges[0], edges[-1], top)
    for i, c in enumerate(counts):
        h = ph * c / top
        body.append(
            f'<rect x="{x0 + i * bw:.1f}" y="{y0 - h:.1f}" width="{max(bw - 1, 0.5):.1f}" '
            f'height="{h:.1f}" fill="{BLUE}"><title>{esc(short(edges[i]))} to '
            f"{esc(short(edges[i + 1]))}: {c:,.0f}</title></rect>"
        )
    if overlay:
        pts = " ".join(
            f"{x0 + (i + 0.5) * bw:.1f},{y0 - ph * c / top:.1f}" for i, c in enumerate(overlay)
        )
        body.append(f'<polyline points="{pts}" fill="none" stroke="{ORANGE}" stroke-width="2"/>')
    return _frame(title, body)


def bars(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    fmt: str = "{:.1%}",
    colours: Sequence[int] = (),
) -> str:
    """Horizontal bars, one per label, with the value written at the end; `colours` are
    palette indexes (so one category keeps its colour across charts)."""
    n = max(len(labels), 1)
    height = PAD_T + 16 * n + 6
    lw = 90
    top = max([*values, 1e-12])
    body = []
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        y = PAD_T + 16 * i
        w = (W - lw - 50) * v / top
        body += [
            f'<text x="{lw - 4}" y="{y + 11}" text-anchor="end">{esc(str(label)[:16])}</text>',
            f'<rect x="{lw}" y="{y + 2}" width="{w:.1f}" height="12" '
            f'fill="{PALETTE[(colours[i] if colours else i) % 7]}"/>',
            f'<text x="{lw + w + 3:.1f}" y="{y + 11}">{esc(fmt.format(v))}</text>',
        ]
    return _frame(title, body, height=height)


def boxes(title: str, groups: Sequence[tuple[str, Sequence[float]]]) -> str:
    """One box per group: quartiles, median, whiskers at 1.5 IQR clipped to the data.
    `groups` holds (label, [min, q1, median, q3, max]) five-number summaries."""
    los = [g[1][0] for g in groups] or [0.0]
    his = [g[1][4] for g in groups] or [1.0]
    lo, hi = min(los), max(his)
    span = (hi - lo) or 1.0
    x0, y0 = PAD_L, H - PAD_B
    ph = H - PAD_B - PAD_T

    def y(v: float) -> float:
        return y0 - ph * (v - lo) / span

    bw = (W - PAD_L - PAD_R) / max(len(groups), 1)
    body = [
        f'<line x1="{x0}" y1="{y0}" x2="{W - PAD_R}" y2="{y0}" stroke="#333"/>',
        f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{PAD_T}" stroke="#333"/>',
        f'<text x="{x0 - 3}" y="{PAD_T + 8}" text-anchor="end">{esc(short(hi))}</text>',
        f'<text x="{x0 - 3}" y="{y0}" text-anchor="end">{esc(short(lo))}</text>',
    ]
    for i, (label, (mn, q1, med, q3, mx)) in enumerate(groups):
        cx, half = x0 + (i + 0.5) * bw, min(bw * 0.3, 20)
        colour = PALETTE[i % 7]
        tip = f"{label}: min {short(mn)}, q1 {short(q1)}, median {short(med)}, "
        tip += f"q3 {short(q3)}, max {short(mx)}"
        body += [
            f"<g><title>{esc(tip)}</title>",
            f'<line x1="{cx:.1f}" y1="{y(mn):.1f}" x2="{cx:.1f}" y2="{y(mx):.1f}" stroke="#555"/>',
            f'<rect x="{cx - half:.1f}" y="{y(q3):.1f}" width="{2 * half:.1f}" '
            f'height="{max(y(q1) - y(q3), 0.5):.1f}" fill="{colour}" fill-opacity="0.6" '
            f'stroke="{colour}"/>',
            f'<line x1="{cx - half:.1f}" y1="{y(med):.1f}" x2="{cx + half:.1f}" '
            f'y2="{y(med):.1f}" stroke="#000" stroke-width="1.5"/></g>',
            f'<text x="{cx:.1f}" y="{y0 + 12}" text-anchor="middle">{esc(label[:10])}</text>',
        ]
    return _frame(title, body)


def _colour(r: float) -> str:
    """Blue for -1, white for 0, red for +1."""
    if r != r:
        return "#eee"
    t = max(-1.0, min(1.0, r))
    base = (59, 76, 192) if t < 0 else (180, 4, 38)
    a = abs(t)
    rgb = [round(255 + (b - 255) * a) for b in base]
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def heatmap(names: Sequence[str], matrix: Sequence[Sequence[float]]) -> str:
    """A correlation matrix: one coloured cell per pair, the value written when it fits."""
    n = len(names)
    label = 110
    cell = max(12, min(40, (860 - label) // max(n, 1)))
    size = label + cell * n + 4
    body = []
    for i, row in enumerate(matrix):
        y = label + i * cell
        body.append(
            f'<text x="{label - 4}" y="{y + cell / 2 + 3:.0f}" text-anchor="end">'
            f"{esc(names[i][:18])}</text>"
        )
        for j, r in enumerate(row):
            x = label + j * cell
            text = ""
            if cell >= 28 and r == r:
                ink = "#fff" if abs(r) > 0.6 else "#000"
                text = (
                    f'<text x="{x + cell / 2:.0f}" y="{y + cell / 2 + 3:.0f}" '
                    f'text-anchor="middle" fill="{ink}" font-size="9">{r:.2f}</text>'
                )
            tip = f"{names[i]} with {names[j]}: " + ("n/a" if r != r else f"{r:.3f}")
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{_colour(r)}">'
                f"<title>{esc(tip)}</title></rect>{text}"
            )
    for j, name in enumerate(names):
        tx = label + j * cell + cell / 2 + 3
        body.append(
            f'<text transform="translate({tx:.0f},{label - 4}) rotate(-60)">{esc(name[:18])}</text>'
        )
    return _frame("Pearson correlation", body, width=size, height=size)


def finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if not (math.isnan(v) or math.isinf(v))]
