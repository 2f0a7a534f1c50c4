"""Quality suite: on labelled synthetic records with every hard case (fixed seed), the shipped model
must keep auto-links precise, find nearly every duplicate, and send few records to review."""

from __future__ import annotations

import pytest

from gateway.matching import MatchModel, generate_labelled
from gateway.matching.evaluation import evaluate_model


@pytest.fixture(scope="module")
def evaluation(model: MatchModel):  # type: ignore[no-untyped-def]
    return evaluate_model(generate_labelled(4000, 20260), model)


def test_auto_link_precision(evaluation) -> None:  # type: ignore[no-untyped-def]
    assert evaluation.band("match").precision >= 0.999, evaluation.false_links_by_case


def test_recall_of_match_and_review(evaluation) -> None:  # type: ignore[no-untyped-def]
    assert evaluation.band("match+review").recall >= 0.99, evaluation.missed_by_case


def test_review_pairs_at_most_three_percent_of_records(evaluation) -> None:  # type: ignore[no-untyped-def]
    assert evaluation.review_share <= 0.03


def test_the_data_set_is_large_enough_to_mean_something(evaluation) -> None:  # type: ignore[no-untyped-def]
    assert evaluation.records > 5000 and evaluation.true_pairs > 1000
