"""Key charts as PNG files for slides and issues (matplotlib, Agg backend: no display needed).

Same Chart objects as the HTML report, so a PNG and its HTML chart show the same numbers.
"""

from __future__ import annotations

from pathlib import Path

from accelbench.errors import UserError
from accelbench.report.charts import Chart, series_styles

ERROR_COLOR = "#374151"
# The charts worth a slide, in this order (the others stay in the HTML report).
KEY_CHARTS = ("ranking", "peak_tops", "latency_vs_resolution", "throughput_vs_resolution", "mac_utilization",
              "activation_vs_sram", "pareto", "precision", "layers_stage3")


def _plain(text: str) -> str:
    """matplotlib reads $...$ as math: escape it so model names print as given."""
    return str(text).replace("$", r"\$")


def _errors(values, low, high):
    """matplotlib's [[below...], [above...]] from interval ends; NaN (no bar) where a point has none."""
    nan = float("nan")
    below = [nan if v is None or lo is None else max(v - lo, 0.0) for v, lo in zip(values, low)]
    above = [nan if v is None or h is None else max(h - v, 0.0) for v, h in zip(values, high)]
    return [below, above]


def render_png(chart: Chart, path: Path, dpi: int = 150) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.0, 4.6 if chart.height_px <= 420 else chart.height_px / 85), dpi=dpi)
    styles = dict(zip((id(s) for s in chart.series), series_styles(chart)))
    dashes = {"solid": "-", "dash": "--", "dot": ":", "dashdot": "-."}
    try:
        bars = [s for s in chart.series if s.kind == "bar"]
        if bars:
            cats = list(chart.categories)
            for s in bars:
                cats.extend(x for x in s.x if x not in cats)
            overlay = chart.barmode == "overlay"  # series on categories of their own: no side-by-side offset
            width = 0.8 if overlay else 0.8 / len(bars)
            for i, s in enumerate(bars):
                pos = [cats.index(x) - (0.0 if overlay else 0.4 - width * (i + 0.5)) for x in s.x]
                yerr = _errors(s.y, s.y_low, s.y_high) if s.has_y_interval else None
                style = styles[id(s)]
                rects = ax.bar(pos, s.y, width, label=_plain(s.name), color=style.color, yerr=yerr,
                               hatch=style.pattern * 3 or None, capsize=3 if yerr else 0, ecolor=ERROR_COLOR)
                if s.labels:
                    ax.bar_label(rects, labels=[_plain(x) for x in s.labels], fontsize=7, padding=2)
            ax.set_xticks(range(len(cats)))
            ax.set_xticklabels([_plain(c) for c in cats], rotation=12 if len(cats) > 3 else 0, ha="right" if len(cats) > 3 else "center", fontsize=8)
        for s in chart.series:
            color = styles[id(s)].color
            if s.kind == "hbar":
                xerr = _errors(s.x, s.x_low, s.x_high) if s.has_x_interval else None
                # numeric rows in the chart's category order (matplotlib would order them by first appearance)
                rows = [chart.categories.index(y) for y in s.y] if chart.categories else [_plain(y) for y in s.y]
                ax.barh(rows, s.x, color=color, label=_plain(s.name), xerr=xerr, capsize=3 if xerr else 0,
                        ecolor=ERROR_COLOR)
                if s.labels:
                    for row, x, lab in zip(rows, s.x, s.labels):
                        ax.text(x, row, " " + _plain(lab), va="center", fontsize=7)
            elif s.kind in ("line", "markers"):
                line = "o" if s.kind == "markers" else "o" + dashes.get(styles[id(s)].dash, "-")
                ax.plot(s.x, s.y, line, color=color, label=_plain(s.name), markersize=7 if s.kind == "markers" else 4)
                if s.has_x_interval or s.has_y_interval:
                    ax.errorbar(s.x, s.y, xerr=_errors(s.x, s.x_low, s.x_high) if s.has_x_interval else None,
                                yerr=_errors(s.y, s.y_low, s.y_high) if s.has_y_interval else None,
                                fmt="none", ecolor=color, elinewidth=1, capsize=3, alpha=0.8)
                for x, y, lab in zip(s.x, s.y, s.labels):
                    ax.annotate(_plain(lab), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        if chart.categories and any(s.kind == "hbar" for s in chart.series):
            ax.set_yticks(range(len(chart.categories)))
            ax.set_yticklabels([_plain(c) for c in chart.categories], fontsize=7)
        for ref in chart.hlines:
            ax.axhline(ref.y, color="#6b7280", linestyle=":", linewidth=1)
            if ref.label:
                ax.annotate(_plain(ref.label), (ref.x, ref.y), xycoords=("axes fraction", "data"), fontsize=7,
                            color="#374151", ha=ref.anchor, va=ref.yanchor)
        for label in chart.point_labels:
            ax.annotate(_plain(label.text), (label.x, label.y), textcoords="offset points", fontsize=7,
                        xytext=(label.dx * 0.75, label.dy * 0.75), ha=label.xanchor,
                        va={"middle": "center"}.get(label.yanchor, label.yanchor), color="#374151")
        if chart.x_range is not None:
            ax.set_xlim(*chart.x_range)
        if chart.y_range is not None:
            ax.set_ylim(*chart.y_range)
        if chart.log_x:
            ax.set_xscale("log")
        if chart.log_y:
            ax.set_yscale("log")
        ax.set_title(_plain(chart.title), fontsize=11, loc="left")
        ax.set_xlabel(_plain(chart.x_title), fontsize=9)
        ax.set_ylabel(_plain(chart.y_title), fontsize=9)
        ax.grid(True, color="#e5e7eb", linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if len(chart.series) > 1:
            ax.legend(fontsize=7, frameon=False)
        fig.text(0.99, 0.01, " · ".join(chart.provenances), ha="right", va="bottom", fontsize=7, color="#6b7280")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


def write_pngs(charts: dict[str, Chart], out_dir: str | Path, ids: tuple[str, ...] = KEY_CHARTS) -> list[Path]:
    """Write the key charts that have data as <out_dir>/<chart id>.png; returns the paths written."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UserError("png: --png needs matplotlib; install it with `pip install 'accelbench[report]'`") from None
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"png: {str(out)!r} is a file; give --png a folder")
    if not out.parent.exists():
        raise UserError(f"png: folder {str(out.parent)!r} does not exist; give --png a path in an existing folder")
    out.mkdir(exist_ok=True)
    return [render_png(charts[cid], out / f"{cid}.png") for cid in ids if cid in charts]
