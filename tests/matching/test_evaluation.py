"""Why true pairs miss the auto-link band: the causes ``evaluation.miss_breakdown`` reports."""

from __future__ import annotations

from gateway.matching import MatchModel
from gateway.matching.evaluation import BELOW_THRESHOLD, NEVER_BLOCKED, PairOutcome, miss_breakdown
from gateway.matching.scoring import RULE_DISTINCT_IDS, RULE_NAME_OR_ID, RULE_TWINS

EXACT = (0, 0, 0, 0, 0, 0, 0)


def test_each_missed_true_pair_is_counted_under_one_cause(model: MatchModel) -> None:
    truth = {("A", "B"), ("C", "D"), ("E", "F"), ("G", "H"), ("I", "J"), ("K", "L")}
    outcomes = [
        PairOutcome(("B", "A"), EXACT, (), 0.9999, 2),  # auto-linked, either order
        PairOutcome(("C", "D"), (2, 0, 0, 3, 0, 0, 0), (RULE_TWINS, RULE_NAME_OR_ID), 0.999, 1),
        PairOutcome(("E", "F"), (0, 0, 0, 3, 0, 0, 0), (RULE_DISTINCT_IDS,), 0.9999, 1),
        # below the threshold: the rule fired too, but the weights alone would not have linked it
        PairOutcome(("G", "H"), (1, 0, -1, -1, 3, 0, 0), (RULE_NAME_OR_ID,), 0.9, 1),
        PairOutcome(("I", "J"), (0, 0, 0, -1, 3, 1, 0), (), 0.3, 0),
        PairOutcome(("X", "Y"), EXACT, (), 0.9999, 2),  # a false link is not a miss
    ]
    cases = {r: ("homophone",) if r in "GH" else () for r in "ABCDEFGHIJKL"}
    breakdown = miss_breakdown(truth, outcomes, model.config, cases)
    assert breakdown.true_pairs == 6 and breakdown.missed == 5
    assert breakdown.causes == {
        BELOW_THRESHOLD: 2,
        f"{RULE_TWINS}+{RULE_NAME_OR_ID}": 1,
        RULE_DISTINCT_IDS: 1,
        NEVER_BLOCKED: 1,
    }
    assert breakdown.in_review == {
        BELOW_THRESHOLD: 1,
        f"{RULE_TWINS}+{RULE_NAME_OR_ID}": 1,
        RULE_DISTINCT_IDS: 1,
    }
    assert breakdown.fields_below == {
        "id_number=missing": 2,
        "guardian_name=different": 2,
        "name=homophone": 1,
        "gender=missing": 1,
        "household_region=same_city": 1,
    }
    assert breakdown.patterns_below == {
        "name=homophone, gender=missing, id_number=missing, guardian_name=different": 1,
        "id_number=missing, guardian_name=different, household_region=same_city": 1,
    }
    assert breakdown.cases_by_cause[BELOW_THRESHOLD] == {"homophone": 1}
