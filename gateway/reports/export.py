"""The progress return as files: a CSV and a PNG chart per region, and one summary CSV.

Charts are drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state, no
display), so reports can be rendered from worker threads and headless machines alike.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gateway.reports.schemas import FIGURE_FIELDS, ProgressReport, RegionFigures

# The chart's panels: a title and the figures drawn as bars in it.
PANELS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Codes issued",
        (
            ("L", "codes_temporary"),
            ("G", "codes_formal_g"),
            ("J", "codes_formal_j"),
            ("promoted", "promotions"),
        ),
    ),
    (
        "Verification",
        (
            ("verified", "verification_verified"),
            ("failed", "verification_failed"),
            ("n/a", "verification_not_applicable"),
            ("pending", "verification_pending"),
        ),
    ),
    ("Problem records", (("opened", "problems_opened"), ("closed", "problems_closed"))),
    (
        "Backlog by age (days)",
        (
            ("0-7", "backlog_0_7"),
            ("8-30", "backlog_8_30"),
            ("31-90", "backlog_31_90"),
            (">90", "backlog_over_90"),
        ),
    ),
    ("Cross-province transfers", (("in", "transfers_in"), ("out", "transfers_out"))),
)


def region_csv(report: ProgressReport, figures: RegionFigures) -> str:
    """One region's figures as ``metric,value`` rows, headed by the month and the region."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["metric", "value"])
    writer.writerow(["month", report.month])
    writer.writerow(["region", figures.region])
    writer.writerow(["name", figures.name or ""])
    for field in FIGURE_FIELDS:
        writer.writerow([field, getattr(figures, field)])
    return buffer.getvalue()


def summary_csv(report: ProgressReport) -> str:
    """Every region of the report, one row each, and the total last."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["month", "region", "name", *FIGURE_FIELDS])
    for figures in [*report.regions, report.total]:
        writer.writerow(
            [report.month, figures.region, figures.name or "", *(getattr(figures, f) for f in FIGURE_FIELDS)]
        )
    return buffer.getvalue()


def region_png(report: ProgressReport, figures: RegionFigures) -> bytes:
    """A bar chart of one region's month: one panel per group of figures."""
    figure = Figure(figsize=(12, 3.2), dpi=80)
    figure.subplots_adjust(left=0.04, right=0.99, bottom=0.12, top=0.8, wspace=0.3)
    FigureCanvasAgg(figure)
    # Region codes, not names, in the title: the default fonts have no CJK glyphs.
    figure.suptitle(f"Progress {report.month} - region {figures.region}")
    axes = figure.subplots(1, len(PANELS))
    for ax, (title, bars) in zip(axes, PANELS, strict=True):
        values = [int(getattr(figures, field)) for _label, field in bars]
        drawn = ax.bar([label for label, _ in bars], values, color="#3b6ea5")
        ax.bar_label(drawn, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylim(0, max([*values, 1]) * 1.2)
        ax.tick_params(labelsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_report(report: ProgressReport, out_dir: Path) -> list[Path]:
    """Write ``progress-MONTH-REGION.csv`` and ``.png`` per region plus the summary; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for figures in report.regions:
        stem = out_dir / f"progress-{report.month}-{figures.region}"
        csv_path, png_path = stem.with_suffix(".csv"), stem.with_suffix(".png")
        csv_path.write_text(region_csv(report, figures), encoding="utf-8")
        png_path.write_bytes(region_png(report, figures))
        written += [csv_path, png_path]
    summary = out_dir / f"progress-{report.month}-{report.region}-summary.csv"
    summary.write_text(summary_csv(report), encoding="utf-8")
    written.append(summary)
    return written
