"""The progress return as files (a CSV and a PNG chart per region, and one summary CSV) and the
progress circular (one CSV ranking the lagging units, with the month's progress figures, and one PNG).

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

from gateway.reports.schemas import (
    COMPLETENESS_FIELDS,
    FIGURE_FIELDS,
    ProgressReport,
    QualityReport,
    RegionFigures,
    UnitQuality,
)

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


# -- the progress circular (进度通报): the data-quality ranking, with the month's progress figures -----

CIRCULAR_PROGRESS_FIELDS = (
    "codes_temporary",
    "codes_formal_g",
    "codes_formal_j",
    "problems_opened",
    "problems_closed",
)


def ranking_measure(unit: UnitQuality) -> tuple[str, float | None]:
    """What a unit is ranked on in the chart: completion when expected is known, else verification."""
    if unit.completion_rate is not None:
        return "completion_rate", unit.completion_rate
    return "verification_rate", unit.verification_rate


def circular_csv(report: QualityReport, progress: ProgressReport | None, lagging: int) -> str:
    """One row per unit, the most lagging first, with the month's progress figures of region units."""
    monthly = {r.region: r for r in progress.regions} if progress else {}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    completeness = [f"complete_{f}" for f in COMPLETENESS_FIELDS]
    writer.writerow(
        [
            "as_of", "rank", "lagging", "unit", "name", "submitted", "expected", "completion_rate",
            "verified", "verification_rate", "wrong_id_open", "wrong_id_rate", "duplicates_open",
            "duplicate_rate", "problems_open", "problems_overdue", "review_steps_overdue", *completeness,
            *(f"month_{f}" for f in CIRCULAR_PROGRESS_FIELDS),
        ]
    )  # fmt: skip

    def blank(value: object) -> object:
        return "" if value is None else value

    for unit in [*report.units, report.total]:
        month = monthly.get(unit.unit) if unit is not report.total else (progress.total if progress else None)
        writer.writerow(
            [
                report.day,
                blank(unit.lag_rank),
                "" if unit.lag_rank is None else ("yes" if unit.lag_rank <= lagging else "no"),
                unit.unit,
                unit.name or "",
                unit.submitted,
                blank(unit.expected),
                blank(unit.completion_rate),
                unit.verified,
                blank(unit.verification_rate),
                unit.wrong_id_open,
                blank(unit.wrong_id_rate),
                unit.duplicates_open,
                blank(unit.duplicate_rate),
                unit.problems_open,
                unit.problems_overdue,
                unit.review_steps_overdue,
                *(blank(unit.completeness.get(f)) for f in COMPLETENESS_FIELDS),
                *(blank(getattr(month, f)) if month else "" for f in CIRCULAR_PROGRESS_FIELDS),
            ]
        )
    return buffer.getvalue()


def circular_png(report: QualityReport, lagging: int) -> bytes:
    """The ranking as horizontal bars, the most lagging at the top and drawn in red."""
    units = report.units
    figure = Figure(figsize=(9, max(2.5, 0.32 * len(units) + 1.4)), dpi=80)
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    labels = [u.unit or "-" for u in units]
    values = [(ranking_measure(u)[1] or 0.0) * 100 for u in units]
    colours = ["#c0392b" if (u.lag_rank or 0) <= lagging else "#3b6ea5" for u in units]
    bars = ax.barh(range(len(units)), values, color=colours)
    ax.set_yticks(range(len(units)), labels)
    ax.bar_label(bars, fmt="%.1f%%", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max([*values, 100]) * 1.1)
    measures = {ranking_measure(u)[0] for u in units} or {"completion_rate"}
    ax.set_xlabel(" / ".join(sorted(m.replace("_", " ") for m in measures)) + " (%)")
    # Codes, not names: the default fonts have no CJK glyphs.
    figure.suptitle(f"Progress circular {report.day} - {report.region}, by {report.unit_kind}")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_circular(
    report: QualityReport, progress: ProgressReport | None, out_dir: Path, lagging: int
) -> list[Path]:
    """Write ``circular-DATE-REGION.csv`` and ``.png``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"circular-{report.day}-{report.region}"
    csv_path, png_path = stem.with_suffix(".csv"), stem.with_suffix(".png")
    csv_path.write_text(circular_csv(report, progress, lagging), encoding="utf-8")
    png_path.write_bytes(circular_png(report, lagging))
    return [csv_path, png_path]
