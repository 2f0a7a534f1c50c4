"""What the command-line tools share on the terminal.

The rule for an operator's command (reports, circulars): a person reads stdout (progress bars,
tables, the summary), machines read the JSON log lines on stderr or in ``GATEWAY_LOG_FILE``
(``gateway.logs.configure_logging``); the two never share a stream, so neither interleaves the other.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from gateway.logs import configure_logging
from gateway.settings import Settings


def human_console() -> Console:
    """Where a command's human-readable output goes: stdout (plain text when it is not a terminal)."""
    return Console(stderr=False, highlight=False)


def operator_terminal(settings: Settings) -> Console:
    """Set an operator's command up by the rule above: JSON logs to stderr or ``GATEWAY_LOG_FILE``,
    and the console a person reads (stdout) returned."""
    configure_logging(settings.log_level, True, settings.log_file)
    return human_console()


class RateColumn(ProgressColumn):
    """Items per second, as rich measures it over the last moments of the run."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} {self.unit}/s", style="progress.data.speed")


def progress_bar(console: Console, label: str = "{task.description}", unit: str = "rows") -> Progress:
    """A bar with done/total, the rate, elapsed time and the time still to go on ``console``, gone
    once the run ends."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
