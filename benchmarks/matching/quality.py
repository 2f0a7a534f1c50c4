"""Pair-level precision, recall and F1 shared by the matching benchmarks (ours and Splink's)."""

from __future__ import annotations

from collections.abc import Iterable


def prf(predicted: Iterable[tuple[str, str]], truth: set[tuple[str, str]]) -> tuple[float, float, float, int]:
    """Precision, recall, F1 and the number of predicted pairs (pairs unordered)."""
    pairs = {(a, b) if a < b else (b, a) for a, b in predicted}
    tp = len(pairs & truth)
    precision = tp / len(pairs) if pairs else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, len(pairs)


def row(label: str, figures: tuple[float, float, float, int], seconds: float | None = None) -> str:
    precision, recall, f1, n = figures
    timing = f"{seconds:8.1f} s" if seconds is not None else ""
    return f"{label:<34} pairs {n:>8,}  P {precision:.4f}  R {recall:.4f}  F1 {f1:.4f}  {timing}"


def recall_at_precision(
    scored: Iterable[tuple[str, str, float]], truth: set[tuple[str, str]], precision: float
) -> tuple[float, float, float, int]:
    """The largest recall an engine reaches among its pairs taken best first (by probability, whole
    ties at a time) while precision stays at least ``precision``: (threshold, precision, recall, pairs).
    How an engine with a different threshold compares at another engine's precision."""
    ranked = sorted(((p, (a, b) if a < b else (b, a)) for a, b, p in scored), key=lambda x: -x[0])
    best = (1.0, 1.0, 0.0, 0)
    tp = 0
    for k, (probability, pair) in enumerate(ranked):
        n = k + 1
        tp += pair in truth
        last_of_tie = k + 1 == len(ranked) or ranked[k + 1][0] != probability
        if last_of_tie and tp / n >= precision and tp / len(truth) > best[2]:
            best = (probability, tp / n, tp / len(truth), n)
    return best
