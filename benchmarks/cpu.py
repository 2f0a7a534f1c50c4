"""CPU time spent by each party of a benchmark, read from Linux's /proc (nothing printed elsewhere).

A benchmark on one machine shares its cores between the gateway, the database, the mock government
systems and the load generator. Dividing each one's CPU time by the requests served tells where a
request's cost goes, and what throughput the cores could give at best.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(command, parent pid, CPU seconds) of a process, or None when it is gone or unreadable."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    command = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return command, int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def _all() -> dict[int, tuple[str, int, float]]:
    out = {}
    for entry in PROC.iterdir() if PROC.exists() else ():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                out[int(entry.name)] = stat
    return out


def tree_seconds(roots: Iterable[int]) -> float:
    """CPU seconds of processes and all their descendants (uvicorn worker processes included)."""
    table = _all()
    wanted = set(roots)
    grew = True
    while grew:
        children = {pid for pid, (_, parent, _) in table.items() if parent in wanted} - wanted
        grew = bool(children)
        wanted |= children
    return sum(table[pid][2] for pid in wanted if pid in table)


def own_seconds() -> float:
    """CPU seconds of this process alone (its children are counted with their own trees)."""
    stat = _stat(os.getpid())
    return stat[2] if stat else 0.0


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy since boot (idle and I/O wait excluded).

    Short-lived processes (a PostgreSQL backend per connection, say) take their counts with them when
    they exit; the machine's total keeps them, so what no named party used is the database's and the
    rest of the machine's.
    """
    try:
        first = (PROC / "stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[:8])
    return (user + nice + system + irq + softirq + steal) / TICKS


def available() -> bool:
    return (PROC / "self" / "stat").exists()
