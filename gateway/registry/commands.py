"""``gateway sweep``: the national duplicate sweep from the command line (``gateway.registry.sweep``),
over the whole registry or one region, with a progress line per stage and a summary."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from gateway.registry.sweep import Stage, SweepOptions, SweepSummary, sweep
from gateway.settings import Settings
from gateway.wiring import build_context, close_context

_REGION = re.compile(r"^(\d{2}|\d{4}|\d{6})$")


def sweep_command(
    region: Annotated[
        str | None,
        typer.Option(
            "--region", help="Province, city or county code (2, 4 or 6 digits); default: the whole country."
        ),
    ] = None,
    engine: Annotated[
        Literal["duckdb", "spark"],
        typer.Option("--engine", help="Batch executor: duckdb (embedded) or spark."),
    ] = "duckdb",
    memory_limit: Annotated[
        str | None,
        typer.Option("--memory-limit", help="DuckDB's memory limit (e.g. 8GB); beyond it, it spills."),
    ] = None,
    workdir: Annotated[
        Path | None,
        typer.Option("--workdir", help="Where the executor keeps its files (default: system temp)."),
    ] = None,
) -> None:
    """Find persons of the registry who should be one and open possible-duplicate problem records for
    pairs no problem record names yet (a second sweep opens nothing new)."""
    console = Console(stderr=True)
    if region is not None and not _REGION.match(region):
        raise typer.BadParameter("a region is a 2-, 4- or 6-digit code, e.g. 41", param_hint="--region")
    ctx = build_context(Settings())
    counts: dict[Stage, int] = {"read": 0, "score": 0, "open": 0}

    def progress(stage: Stage, n: int) -> None:
        counts[stage] += n
        labels = {"read": "persons read", "score": "candidate pairs scored", "open": "pairs decided"}
        console.print(f"{stage}: {counts[stage]:,} {labels[stage]}", markup=False)

    try:
        options = SweepOptions(region=region, engine=engine, memory_limit=memory_limit, workdir=workdir)
        summary = sweep(ctx.engine, ctx.keyring, ctx.services.registry.model, options, progress)
    finally:
        close_context(ctx)
    _print(console, summary)


def _print(console: Console, summary: SweepSummary) -> None:
    console.print(
        f"swept {summary.region or 'the whole country'}: {summary.persons:,} persons, "
        f"{summary.candidate_pairs:,} candidate pairs, {summary.match_pairs:,} match and "
        f"{summary.review_pairs:,} review; {summary.opened:,} problem records opened, "
        f"{summary.already_known:,} pairs already open or decided (model {summary.model})",
        soft_wrap=True,
        markup=False,
    )
