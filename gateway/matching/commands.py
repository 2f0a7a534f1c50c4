"""Typer command functions of the matching engine, registered on the ``gateway`` CLI by the lead:
``dedupe`` and ``link`` (batch runs over CSV files, on a SQL executor), ``eval`` (quality on labelled
synthetic data), ``train`` (estimate a model's parameters on unlabelled records) and ``generate``
(write synthetic records). They parse arguments, call one function of the package and print; nothing else.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gateway.matching.batch import (
    BatchSummary,
    EngineOptions,
    dedupe_file,
    default_workers,
    link_files,
    read_csv,
    train_model,
)
from gateway.matching.blocking import record_to_row
from gateway.matching.config import MatchConfig, load_config
from gateway.matching.evaluation import Evaluation, evaluate_model
from gateway.matching.model import EMResult, MatchModel, load_model
from gateway.matching.synthetic import CSV_COLUMNS, generate_labelled, iter_population
from gateway.schools.parsing import DEMO_REGISTER, SchoolRow, parse_register, school_for

console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Matching configuration (TOML/JSON); default: canonical student."),
]
ModelOption = Annotated[
    Path | None,
    typer.Option("--model", help="Trained parameters (JSON) for the configuration; default: shipped ones."),
]
PinnedModelOption = Annotated[
    Path | None,
    typer.Option(
        "--model",
        help=(
            "Pin these parameters (JSON, e.g. the PAIRS.model.json of an earlier run); default: "
            "estimate them on the input (EM), falling back to the shipped ones where the fit is degenerate."
        ),
    ),
]


EngineOption = Annotated[
    Literal["duckdb", "spark"],
    typer.Option("--engine", help="Batch executor: duckdb (embedded, default) or spark."),
]
MemoryLimitOption = Annotated[
    str | None,
    typer.Option("--memory-limit", help="DuckDB's memory limit (e.g. 8GB); beyond it, it spills to disk."),
]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers", min=1, help="Processes preparing records (pinyin, keys); default: one per core."
    ),
]


def _options(
    engine: Literal["duckdb", "spark"], memory_limit: str | None, workers: int | None
) -> EngineOptions:
    return EngineOptions(engine=engine, workers=workers or default_workers(), memory_limit=memory_limit)


def _model(config_path: Path | None, model_path: Path | None) -> MatchModel:
    config = load_config(config_path)
    if model_path is None and config_path is not None:
        # A configuration file ships its parameters next to it: NAME.toml -> NAME.model.json.
        sibling = config_path.with_suffix(".model.json")
        if sibling.exists():
            model_path = sibling
    try:
        return load_model(model_path, config)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{exc}; train parameters first: gateway train --config CONFIG --input FILE --out MODEL",
            param_hint="--model",
        ) from exc


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} items"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _run_with_progress(label: str, out: Path, run: Callable[[Callable[[int], None]], BatchSummary]) -> None:
    """Run a batch job with a progress bar fed by its record counter, then print its summary."""
    with _progress() as progress:
        task = progress.add_task(label, total=None)
        summary = run(lambda n: progress.advance(task, n))
    _print_summary(summary, out)


def _print_summary(summary: BatchSummary, out: Path) -> None:
    console.print(
        f"{summary.records:,} records ({summary.rejected:,} rejected, {summary.lenient:,} with a mistyped "
        f"document kept), {summary.candidate_pairs:,} candidate pairs: {summary.match_pairs:,} match, "
        f"{summary.review_pairs:,} review -> {out} (configuration {summary.config_label})",
        soft_wrap=True,
        markup=False,
    )
    where = f" -> {summary.parameters_path}" if summary.parameters_path else ""
    console.print(f"parameters: {summary.parameters}{where}", soft_wrap=True, markup=False)
    for line in summary.fallbacks:
        console.print(f"  fallback: {line}", soft_wrap=True, markup=False)


def dedupe(
    input_csv: Annotated[Path, typer.Argument(help="Records in the canonical schema (CSV, header row).")],
    out: Annotated[Path, typer.Option("--out", help="Pairs file to write.")],
    config: ConfigOption = None,
    model: PinnedModelOption = None,
    engine: EngineOption = "duckdb",
    memory_limit: MemoryLimitOption = None,
    workers: WorkersOption = None,
) -> None:
    """Find records of the same person within one file; write record_id_1,record_id_2,score,band and,
    beside it, the parameters used (estimated on the file unless --model pins them)."""
    matcher = _model(config, model)
    options = _options(engine, memory_limit, workers)
    learning = model is None
    _run_with_progress(
        "dedupe", out, lambda tick: dedupe_file(input_csv, out, matcher, tick, options, learning=learning)
    )


def link(
    a_csv: Annotated[Path, typer.Argument(help="First file (record_id_1).")],
    b_csv: Annotated[Path, typer.Argument(help="Second file (record_id_2).")],
    out: Annotated[Path, typer.Option("--out", help="Pairs file to write.")],
    config: ConfigOption = None,
    model: PinnedModelOption = None,
    engine: EngineOption = "duckdb",
    memory_limit: MemoryLimitOption = None,
    workers: WorkersOption = None,
) -> None:
    """Find records of the same person across two files; write record_id_1,record_id_2,score,band and,
    beside it, the parameters used (estimated on both files unless --model pins them)."""
    matcher = _model(config, model)
    options = _options(engine, memory_limit, workers)
    learning = model is None
    _run_with_progress(
        "link", out, lambda tick: link_files(a_csv, b_csv, out, matcher, tick, options, learning=learning)
    )


def print_evaluation(evaluation: Evaluation, label: str) -> None:
    """Print an evaluation as a table (shared with the benchmarks)."""
    table = Table(title=f"{label}: {evaluation.records:,} records, {evaluation.true_pairs:,} true pairs")
    for column in ("band", "pairs", "precision", "recall", "F1"):
        table.add_column(column, justify="right")
    for band in evaluation.bands:
        table.add_row(
            band.band, f"{band.pairs:,}", f"{band.precision:.4f}", f"{band.recall:.4f}", f"{band.f1:.4f}"
        )
    Console().print(table)
    Console().print(
        f"blocking recall {evaluation.blocking_recall:.4f}; "
        f"review pairs {evaluation.review_share:.2%} of records"
    )
    if evaluation.missed_by_case:
        Console().print(f"missed true pairs by hard case: {evaluation.missed_by_case}")
    if evaluation.false_links_by_case:
        Console().print(f"false auto-links by hard case: {evaluation.false_links_by_case}")


def eval_(
    persons: Annotated[
        int, typer.Option(help="Persons to generate (records are about 1.3 times more).")
    ] = 5000,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 20260,
    config: ConfigOption = None,
    model: ModelOption = None,
) -> None:
    """Measure precision, recall and F1 per band on labelled synthetic student records."""
    matcher = _model(config, model)
    data = generate_labelled(persons, seed)
    with _progress() as progress:
        task = progress.add_task("eval", total=None)
        evaluation = evaluate_model(data, matcher, lambda n: progress.advance(task, n))
    print_evaluation(evaluation, matcher.config.label)


def train(
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the trained parameters (JSON).")
    ] = None,
    input_csv: Annotated[
        Path | None, typer.Option("--input", help="Unlabelled records; default: generated ones.")
    ] = None,
    from_registry: Annotated[
        bool,
        typer.Option(
            "--from-registry",
            help="Estimate on the registry's persons and store a new model version in its database "
            "(activate it with gateway matching activate VERSION).",
        ),
    ] = False,
    persons: Annotated[int, typer.Option(help="Persons to generate when no input is given.")] = 60000,
    seed: Annotated[int, typer.Option(help="Seed of the generator and of random pair sampling.")] = 7,
    config: ConfigOption = None,
) -> None:
    """Estimate u (random pairs) and m and the prior (EM on blocked pairs) without reading labels."""
    if from_registry:
        if out is not None or input_csv is not None or config is not None:
            raise typer.BadParameter(
                "--from-registry trains on the registry with its own configuration and stores the "
                "result in its database: no --out, --input or --config",
                param_hint="--from-registry",
            )
        from gateway.registry.commands import train_from_registry

        with _progress() as progress:
            task = progress.add_task("train", total=None)
            train_from_registry(seed, lambda n: progress.advance(task, n))
        return
    if out is None:
        raise typer.BadParameter("where to write the parameters", param_hint="--out")
    cfg: MatchConfig = load_config(config)
    if input_csv is not None:
        rows = list(read_csv(input_csv))
        description = f"EM on {input_csv.name}"
    else:
        rows = generate_labelled(persons, seed).rows
        description = (
            f"EM on gateway.matching.synthetic labelled rows (labels unused), {persons} persons, seed {seed}"
        )
    with _progress() as progress:
        task = progress.add_task("train", total=None)
        model, em, fallbacks = train_model(rows, cfg, seed, description, lambda n: progress.advance(task, n))
    out.write_text(model.to_json(), encoding="utf-8")
    _print_fit(em, fallbacks, str(out))


def _print_fit(em: EMResult | None, fallbacks: tuple[str, ...], where: str) -> None:
    if em is None:
        console.print(f"EM not used: fallback parameters -> {where}", soft_wrap=True, markup=False)
    else:
        console.print(
            f"EM {'converged' if em.converged else 'stopped'} after {em.iterations} iterations; "
            f"prior {em.prior:.4f} -> {where}",
            soft_wrap=True,
            markup=False,
        )
    for line in fallbacks:
        console.print(f"  fallback: {line}", soft_wrap=True, markup=False)


def generate(
    out: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
    persons: Annotated[int, typer.Option(help="How many persons.")] = 1000,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 1,
    labelled: Annotated[
        bool, typer.Option(help="Messy labelled submissions (adds person_id) instead of clean persons.")
    ] = False,
    for_registration: Annotated[
        bool,
        typer.Option(
            "--for-registration",
            help="Schools drawn from a school register (--schools) and the school_region column a "
            "registration batch needs.",
        ),
    ] = False,
    schools: Annotated[
        Path,
        typer.Option(
            "--schools", help="The school register to draw from (--for-registration); default: the demo's."
        ),
    ] = DEMO_REGISTER,
) -> None:
    """Write synthetic student records in the canonical CSV schema."""
    register: list[SchoolRow] = []
    if for_registration:
        parsed = parse_register(schools.read_text(encoding="utf-8"))
        if parsed.errors or not parsed.schools:
            console.print(
                f"[red]{schools}: not a usable school register ({len(parsed.errors)} rows refused)[/red]"
            )
            raise typer.Exit(2)
        register = parsed.schools
    with out.open("w", encoding="utf-8", newline="") as handle:
        if labelled:
            data = generate_labelled(persons, seed)
            writer = csv.DictWriter(handle, [*CSV_COLUMNS, "person_id"])
            writer.writeheader()
            for row in data.rows:
                writer.writerow({**row, "person_id": data.person_of[row["record_id"]]})
        else:
            columns = [*CSV_COLUMNS, "school_region"] if for_registration else list(CSV_COLUMNS)
            writer = csv.DictWriter(handle, columns)
            writer.writeheader()
            for n, record in enumerate(iter_population(persons, seed)):
                row = record_to_row(record)
                if for_registration:
                    # a school the register knows, near the child's household where it has one
                    school = school_for(register, record.household_region, n)
                    row["school_code"], row["school_region"] = school.code, school.region
                writer.writerow(row)
    console.print(f"{persons:,} persons -> {out}")


def register(app: typer.Typer) -> None:
    """Register the matching commands on a Typer app (the lead's ``gateway`` CLI or a test app)."""
    app.command("dedupe")(dedupe)
    app.command("link")(link)
    app.command("eval")(eval_)
    app.command("train")(train)
    app.command("generate-records")(generate)
