"""Term frequencies: how common each value of a field is in a reference set of records, so that
agreement on a rare name weighs more than agreement on 王子涵. A field opts in with
``tf_adjustment = true``. The reference is the input of a batch run (both files of a link) or the
registry's persons (stored with the model version trained on them).

The rule (shared with the SQL batch executors, which must agree to floating-point tolerance):
tf(v) is the number of reference records whose value, as prepared for the field's exact level, equals
v, over the number of reference records with a value (N); a value absent from the reference has tf
1/N. u_avg is the chance that two records drawn at random from the reference share a value, the sum
of tf(v)^2 over the values (the mean of tf over the records). Only a pair at the field's first (exact)
level is adjusted: its weight becomes the level's weight plus ``log2(u_avg / max(tf(v), u_avg / 8))``,
so a value of average frequency weighs what the level weighs, a commoner one less, a rarer one more,
by at most 3 bits. The level's weight may come from u estimated among blocked pairs: the adjustment is
a ratio of two random-pair frequencies, which blocking that does not depend on the value leaves as it
is (docs/adr/017). Since a value seen once and a value never seen both have tf 1/N, a stored table
keeps only the values seen at least twice; u_avg is exact all the same (N minus the stored counts is
the number of values seen once).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from gateway.matching.comparators import DateValue, FieldValue, IdValue, NameValue, PreparedRecord
from gateway.matching.config import MatchConfig

# A value weighs at most log2(TF_U_DIVISOR) bits more than one of average frequency: one typo'd rare
# value must not become proof.
TF_U_DIVISOR = 8.0


def exact_key(value: FieldValue) -> str | None:
    """A prepared value as the field's exact level compares it (a name's characters, or a Latin
    name's sorted parts; a date's digits; a document's number), None when missing."""
    if value is None:
        return None
    if isinstance(value, NameValue):
        return value.text
    if isinstance(value, DateValue):
        return value.digits
    if isinstance(value, IdValue):
        return value.number
    return value


@dataclass(frozen=True)
class TermFrequencies:
    """Per TF field: value counts in the reference and N, the reference records with a value."""

    counts: Mapping[str, Mapping[str, int]]
    totals: Mapping[str, int]
    # Per field, u_avg: the chance that two random reference records share a value.
    averages: Mapping[str, float] = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        averages = {}
        for name, total in self.totals.items():
            if total > 0:
                counts = self.counts.get(name, {}).values()
                # Values left out of a stored table were seen once: N - sum(counts) of them.
                squares = sum(c * c for c in counts) + max(total - sum(counts), 0)
                averages[name] = squares / (total * total)
        object.__setattr__(self, "averages", averages)

    def tf(self, field: str, key: str | None) -> float | None:
        """tf of a value of ``field`` (1/N when absent); None when the field has no reference."""
        total = self.totals.get(field, 0)
        if key is None or total <= 0:
            return None
        return max(self.counts.get(field, {}).get(key, 1), 1) / total

    def average(self, field: str) -> float | None:
        """u_avg of ``field``: the sum of tf(v)^2 over its values; None without a reference."""
        return self.averages.get(field)

    def to_json(self, min_count: int = 2) -> str:
        """The table as JSON; values seen fewer than ``min_count`` times are left out (their tf is
        1/N either way when ``min_count`` is 2)."""
        data: dict[str, Any] = {
            "totals": dict(self.totals),
            "counts": {
                f: {k: c for k, c in sorted(values.items()) if c >= min_count}
                for f, values in self.counts.items()
            },
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @staticmethod
    def from_json(text: str) -> TermFrequencies:
        data = json.loads(text)
        return TermFrequencies(
            counts={f: {str(k): int(c) for k, c in v.items()} for f, v in data["counts"].items()},
            totals={f: int(n) for f, n in data["totals"].items()},
        )


def tf_field_indexes(config: MatchConfig) -> tuple[int, ...]:
    return tuple(i for i, spec in enumerate(config.fields) if spec.tf_adjustment)


def count_frequencies(records: Iterable[PreparedRecord], config: MatchConfig) -> TermFrequencies:
    """Count the exact-level values of every TF field over the reference records."""
    indexes = tf_field_indexes(config)
    counters: dict[int, Counter[str]] = {i: Counter() for i in indexes}
    for record in records:
        for i in indexes:
            key = exact_key(record.values[i])
            if key is not None:
                counters[i][key] += 1
    names = [spec.name for spec in config.fields]
    return TermFrequencies(
        counts={names[i]: dict(c) for i, c in counters.items()},
        totals={names[i]: sum(c.values()) for i, c in counters.items()},
    )


def tf_adjustment(tf: float, u_average: float) -> float:
    """Bits added to the exact level's weight for a value of frequency ``tf`` in a reference whose
    random pairs agree with probability ``u_average``: positive for a rarer value than average,
    negative for a commoner one, at most log2(TF_U_DIVISOR)."""
    return math.log2(u_average / max(tf, u_average / TF_U_DIVISOR))
