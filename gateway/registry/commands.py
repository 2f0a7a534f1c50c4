"""``gateway matching ...``: the registry's own matching model versions, an operator's commands; and
``gateway sweep``, the national duplicate sweep (``gateway.registry.sweep``) over the whole registry
or one region, with a progress line per stage and a summary.

``versions`` lists them, ``activate VERSION`` makes one decide every registration and search (audited)
and re-evaluates under it, ``accept-thresholds`` turns accepted thresholds into a new active version,
``reevaluate`` runs the re-evaluation again. ``gateway train --from-registry`` stores a new version;
``gateway report matching`` suggests thresholds from reviewers' decisions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from gateway.context import AppContext
from gateway.db import session_scope
from gateway.errors import GatewayError
from gateway.matching.batch import default_workers
from gateway.registry import learning
from gateway.registry.modelstore import active_model
from gateway.registry.sweep import Stage, SweepOptions, SweepSummary, sweep
from gateway.settings import Settings
from gateway.wiring import build_context, close_context

matching_app = typer.Typer(help="The registry's matching model versions.", no_args_is_help=True)
console = Console(stderr=True)
ACTOR = "cli"
T = TypeVar("T")

DuplicateLimit = Annotated[
    int,
    typer.Option(
        "--duplicate-limit",
        min=0,
        help="Newest persons searched for duplicates under the new version (the national sweep is "
        "the batch engine's).",
    ),
]


@contextmanager
def operator_context() -> Iterator[AppContext]:
    """The gateway's context for an operator's command (settings from the environment)."""
    from gateway.settings import Settings
    from gateway.wiring import build_context, close_context

    ctx = build_context(Settings())
    try:
        yield ctx
    finally:
        close_context(ctx)


def run_or_exit(work: Callable[[], T]) -> T:
    """Run an operator's step; a refusal is printed (naming the field) and exits 2."""
    try:
        return work()
    except GatewayError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        for error in getattr(exc, "errors", []):
            console.print(f"  {error.field}: {error.message}")
        raise typer.Exit(2) from None


def _print_reevaluation(result: learning.Reevaluation) -> None:
    console.print(
        f"re-evaluated {result.links_checked:,} stored auto-links: {result.links_questioned:,} the new "
        f"version would not make -> auto_link_review problem records; {result.persons_checked:,} newest "
        f"persons searched: {result.duplicates_opened:,} possible_duplicate records opened",
        soft_wrap=True,
        markup=False,
    )


@matching_app.command("versions")
def versions() -> None:
    """List the stored versions, newest first, with their thresholds and which is active."""
    from gateway.db import session_scope
    from gateway.registry import repository

    with operator_context() as ctx, session_scope(ctx.engine) as session:
        table = Table()
        for column in ("version", "status", "config", "match", "review", "created", "description"):
            table.add_column(column)
        for row in repository.model_versions(session):
            table.add_row(
                str(row.id),
                row.status,
                row.config_label,
                f"{row.match_probability:g}",
                f"{row.review_probability:g}",
                row.created_at.isoformat(timespec="seconds"),
                row.description[:60],
            )
        Console(width=200).print(table)


@matching_app.command("activate")
def activate(
    version: Annotated[int, typer.Argument(help="The version number (gateway matching versions).")],
    duplicate_limit: DuplicateLimit = 1000,
) -> None:
    """Make VERSION decide every registration and search from now on (audited), then re-evaluate:
    auto-links it would not make and duplicates it would link open problem records."""
    with operator_context() as ctx:
        deps = ctx.services.registry
        result = run_or_exit(lambda: learning.activate(ctx.engine, deps, version, ACTOR, duplicate_limit))
    console.print(f"model version {version} active", markup=False)
    _print_reevaluation(result)


@matching_app.command("accept-thresholds")
def accept_thresholds(
    match: Annotated[float, typer.Option("--match", help="Auto-link at or above this probability.")],
    review: Annotated[float, typer.Option("--review", help="Review at or above this probability.")],
    duplicate_limit: DuplicateLimit = 1000,
) -> None:
    """Accept thresholds (e.g. those `gateway report matching` suggests): a new version with the active
    parameters and these thresholds, activated (audited), then re-evaluated."""
    with operator_context() as ctx:
        deps = ctx.services.registry
        version, result = run_or_exit(
            lambda: learning.accept_thresholds(
                ctx.engine,
                deps,
                ACTOR,
                match_probability=match,
                review_probability=review,
                duplicate_limit=duplicate_limit,
            )
        )
    console.print(
        f"thresholds match {match:g}, review {review:g}: model version {version} active", markup=False
    )
    _print_reevaluation(result)


@matching_app.command("reevaluate")
def reevaluate(duplicate_limit: DuplicateLimit = 1000) -> None:
    """Re-evaluate stored auto-links (and the newest persons) under the active version again."""
    with operator_context() as ctx:
        result = run_or_exit(lambda: learning.reevaluate(ctx.engine, ctx.services.registry, duplicate_limit))
    _print_reevaluation(result)


def train_from_registry(seed: int, progress: Callable[[int], None] | None = None) -> None:
    """``gateway train --from-registry``: a new stored version (not active) from the registry's persons."""
    with operator_context() as ctx:
        deps = ctx.services.registry
        trained = run_or_exit(lambda: learning.train_from_registry(ctx.engine, deps, ACTOR, seed, progress))
    em = trained.em
    fit = (
        "fallback parameters"
        if em is None
        else f"EM {'converged' if em.converged else 'stopped'} after {em.iterations} iterations, "
        f"prior {em.prior:.4f}"
    )
    console.print(
        f"model version {trained.version} stored from {trained.persons:,} persons and "
        f"{trained.submissions:,} auto-linked submissions ({fit}); "
        f"activate it with: gateway matching activate {trained.version}",
        soft_wrap=True,
        markup=False,
    )
    for line in trained.fallbacks:
        console.print(f"  fallback: {line}", soft_wrap=True, markup=False)


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
        options = SweepOptions(
            region=region, engine=engine, memory_limit=memory_limit, workdir=workdir,
            workers=default_workers(),
        )  # fmt: skip
        deps = ctx.services.registry
        with session_scope(ctx.engine) as session:
            # The model deciding registrations now: the active registry version, else the shipped one.
            model = active_model(session, deps.model, deps.model_cache)
        summary = sweep(ctx.engine, ctx.keyring, model, options, progress)
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
