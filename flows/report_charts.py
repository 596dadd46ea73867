"""The year-end review's two charts, drawn with matplotlib in the font the report's Chinese needs."""

from __future__ import annotations

import io
import os
import subprocess
from functools import cache
from pathlib import Path

from pbstats.transforms.review import Review
from pbstats.transforms.review_sentences import number

NOW_COLOUR, BEFORE_COLOUR = "#b22222", "#c9a66b"


@cache
def cjk_font() -> Path | None:
    """A font with simplified Chinese glyphs: the one locked with the project (a wheel), else the
    system's (fc-list), else None."""
    try:
        import pylopdf_fonts_zh_cn

        path = pylopdf_fonts_zh_cn.sans_path()
        if path.is_file():
            return path
    except ImportError:
        pass
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted(line.split(":")[0].strip() for line in out.splitlines() if line.strip())
    return Path(files[0]) if files else None


@cache
def _pyplot():
    """matplotlib, headless, with the CJK font named explicitly (no reliance on its font cache)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    font = cjk_font()
    if font is not None:
        font_manager.fontManager.addfont(str(font))
        name = font_manager.FontProperties(fname=str(font)).get_name()
        matplotlib.rcParams["font.family"] = "sans-serif"
        matplotlib.rcParams["font.sans-serif"] = [name, "DejaVu Sans"]
    matplotlib.rcParams["axes.unicode_minus"] = False
    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def chart_units(review: Review) -> bytes:
    """Horizontal bars, one pair per township (or village): this year and last year (restated)."""
    plt = _pyplot()
    units = review.chart_units
    height = max(3.0, 0.3 * len(units) + 1.0)
    fig, ax = plt.subplots(figsize=(9, height))
    ys = range(len(units))
    now = [u[1] or 0 for u in units]
    before = [u[2] or 0 for u in units]
    ax.barh([y + 0.2 for y in ys], before, height=0.4, color=BEFORE_COLOUR, label=f"{review.year - 1}年")
    bars = ax.barh([y - 0.2 for y in ys], now, height=0.4, color=NOW_COLOUR, label=f"{review.year}年")
    ax.bar_label(
        bars, labels=[number(u[1]) if u[1] is not None else "" for u in units], padding=2, fontsize=8
    )
    ax.set_yticks(list(ys), [u[0] for u in units], fontsize=9)
    ax.invert_yaxis()
    ax.set_title(review.chart_units_title, fontsize=11)
    ax.legend(loc="lower right", fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    ax.margins(x=0.12)
    return _png(fig)


def chart_years(review: Review) -> bytes:
    """Small multiples: one panel per headline metric, one bar per year."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    series = review.chart_years
    cols = 5
    rows = max(1, (len(series) + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(11, 2.3 * rows + 0.5), squeeze=False)
    for ax, (label, by_year) in zip(axes.flat, series.items(), strict=False):
        years = sorted(by_year)
        colours = [NOW_COLOUR if y == review.year else BEFORE_COLOUR for y in years]
        bars = ax.bar([str(y) for y in years], [by_year[y] for y in years], color=colours, width=0.6)
        ax.bar_label(bars, labels=[number(by_year[y]) for y in years], fontsize=8, padding=1)
        ax.set_title(label, fontsize=10)
        ax.tick_params(labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
        ax.set_ylim(0, (max(by_year.values(), default=0) or 1) * 1.25)  # counts: never below 0
    for ax in list(axes.flat)[len(series) :]:
        ax.axis("off")
    fig.suptitle(review.chart_years_title, fontsize=12)
    fig.tight_layout()
    return _png(fig)


def charts(review: Review) -> dict[str, bytes]:
    return {"units": chart_units(review), "years": chart_years(review)}
