"""Charts of the run report: matplotlib line charts rendered to inline SVG strings.

Drawing is the expensive part of a report, so it is kept lean: no pyplot (no GUI backend, no global
figure registry), one reused figure per y-scale whose lines are removed after each save, titles and
legends in HTML rather than in the SVG, and at most ``MAX_POINTS`` points per curve (bucket means with a
min/max band; the data itself is never thinned).
"""

from __future__ import annotations

import io
import re

import numpy as np

from wubugaad.report.data import downsample

__all__ = ["COLORS", "DASHES", "Line", "svg_chart", "MAX_POINTS"]

MAX_POINTS = 400
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
          "#7f7f7f", "#bcbd22")
# matplotlib dash patterns (on/off in points) by run index, and the same as SVG stroke-dasharray
DASHES = ((), (5, 2), (1.5, 1.5), (6, 2, 1.5, 2))
_RC = {"svg.fonttype": "none", "font.size": 7, "axes.linewidth": 0.6, "xtick.major.width": 0.6,
       "ytick.major.width": 0.6, "xtick.major.size": 2.5, "ytick.major.size": 2.5, "axes.grid": True,
       "grid.linewidth": 0.4, "grid.alpha": 0.5, "svg.image_inline": True}
_FIGURES: dict[str, tuple] = {}
_SVG_START = re.compile(r"<svg\b")


class Line:
    """One curve: ``x``, ``y`` (full data) and its style."""

    __slots__ = ("x", "y", "color", "dashes", "marker")

    def __init__(self, x, y, color: str, dashes: tuple = (), marker: bool = False):
        self.x, self.y, self.color, self.dashes, self.marker = x, y, color, dashes, marker


def _figure(scale: str):
    """The reused ``(figure, axes)`` for a y-scale (``linear`` or ``log``)."""
    if scale not in _FIGURES:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator, ScalarFormatter

        fig = Figure(figsize=(3.6, 2.2))
        FigureCanvasAgg(fig)  # the Agg canvas, set on this figure only: no GUI, no global backend switch
        ax = fig.add_axes((0.15, 0.13, 0.81, 0.82))
        ax.set_yscale(scale)
        # few ticks, plain-text labels (mathtext and minor ticks are most of matplotlib's drawing time)
        ax.xaxis.set_major_locator(MaxNLocator(4, integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(_step_label))
        ax.yaxis.set_major_locator(MaxNLocator(4) if scale == "linear" else LogLocator(numticks=4))
        if scale == "linear":  # decimals follow the tick spacing; no offset, plain-text exponents
            plain = ScalarFormatter(useOffset=False, useMathText=False)
            plain.set_powerlimits((-3, 4))
            ax.yaxis.set_major_formatter(plain)
        else:
            ax.yaxis.set_major_formatter(FuncFormatter(_value_label))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_minor_locator(NullLocator())
        _FIGURES[scale] = (fig, ax)
    return _FIGURES[scale]


def _step_label(v: float, _pos=None) -> str:
    return f"{v / 1000:g}k" if abs(v) >= 10_000 else f"{v:g}"


def _value_label(v: float, _pos=None) -> str:
    return f"{v:g}"


def _scale(lines: list[Line]) -> str:
    """Log y when every finite value is positive and they span more than two decades."""
    finite = [ln.y[np.isfinite(ln.y)] for ln in lines]
    values = np.concatenate(finite) if finite else np.empty(0)
    if values.size and values.min() > 0 and values.max() / values.min() > 100:
        return "log"
    return "linear"


def svg_chart(lines: list[Line], salt: str, zero_line: bool = False, xlabel: str = "step") -> str:
    """An ``<svg>`` element drawing ``lines``; ``salt`` keeps the element ids unique on the page."""
    import matplotlib
    from matplotlib.patches import Polygon

    with matplotlib.rc_context({**_RC, "svg.hashsalt": salt}):
        fig, ax = _figure(_scale(lines))
        artists, bands = [], []
        for ln in lines:
            x, y, low, high = downsample(np.asarray(ln.x, float), np.asarray(ln.y, float), MAX_POINTS)
            if low is not None:  # min/max band: one polygon, added without
                # add_patch's slow limit update (fill_between costs as much as the chart; limits below)
                ok = np.isfinite(low) & np.isfinite(high)
                band = np.column_stack([np.concatenate([x[ok], x[ok][::-1]]),
                                        np.concatenate([high[ok], low[ok][::-1]])])
                if len(band) >= 3:
                    artists.append(ax.add_artist(Polygon(band, closed=True, fc=ln.color, alpha=0.18, lw=0)))
                    bands.append(band)
            (art,) = ax.plot(x, y, color=ln.color, lw=1.1, marker="o" if ln.marker or x.size == 1 else None,
                             ms=2.5)
            if ln.dashes:
                art.set_dashes(ln.dashes)
            artists.append(art)
        if zero_line:
            artists.append(ax.axhline(0.0, color="#444444", lw=0.7))
        label = ax.set_xlabel(xlabel, labelpad=1)
        ax.relim()
        for band in bands:  # relim sees lines only; the min/max bands must fit too
            ax.update_datalim(band)
        ax.autoscale_view()
        buf = io.StringIO()
        try:
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        finally:
            for art in artists:
                art.remove()
            label.set_text("")
    text = buf.getvalue()
    m = _SVG_START.search(text)
    svg = text[m.start():] if m else text
    # drop the fixed size: CSS sizes the chart, the viewBox keeps its proportions
    return re.sub(r'^<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 class="chart-svg"', svg, count=1)
