"""Term-frequency adjustment: agreement on a rare name weighs more than agreement on 王子涵, by the
shared formula (the exact level's weight plus log2(u_avg / max(tf, u_avg / 8)), u_avg the chance that
two random reference records share a value), in the real-time scorer and the batch weights alike."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gateway.identity import CanonicalRecord, normalise_record
from gateway.matching import load_model, score_pair
from gateway.matching.batch import record_frequencies
from gateway.matching.comparators import compare_levels
from gateway.matching.frequencies import TermFrequencies, count_frequencies, tf_adjustment
from gateway.matching.scoring import prepare_record

BASE = {
    "gender": "1",
    "birth_date": "2016-09-01",
    "id_type": "none",
    "household_region": "410102",
    "guardian_name": "王建国",
    "ethnicity": "01",
}


def _record(name: str, record_id: str, **changes: str) -> CanonicalRecord:
    result = normalise_record({**BASE, "record_id": record_id, "name": name, **changes})
    assert result.record is not None, result.errors
    return result.record


def _other_names(n: int) -> list[str]:
    return [f"张{chr(0x4E00 + 200 + i % 400)}{chr(0x4E00 + 700 + i // 400)}" for i in range(n)]


def _counted(names: list[str]) -> TermFrequencies:
    model = load_model()
    records = [
        prepare_record(_record(n, str(i), guardian_name="李梅"), model.config) for i, n in enumerate(names)
    ]
    return count_frequencies(records, model.config)


def _reference() -> TermFrequencies:
    """1,000 reference records: 王子涵 100 times, 欧阳晓远 once, the rest other names."""
    return _counted(["王子涵"] * 100 + ["欧阳晓远"] + _other_names(899))


def _skewed_reference() -> TermFrequencies:
    """1,000 records named as children are: 王子涵 60 times (6%, below u_exact / 8 of the shipped
    model, 0.083, so the old floor weighed it as a rare name), 15 names 20 times each, 欧阳晓远
    twice, 638 names once."""
    names = _other_names(653)
    return _counted(
        ["王子涵"] * 60 + [n for n in names[:15] for _ in range(20)] + ["欧阳晓远"] * 2 + names[15:]
    )


def test_tf_counts_the_exact_level_values_of_the_tf_fields() -> None:
    reference = _reference()
    assert reference.totals == {"name": 1000, "guardian_name": 1000}
    assert reference.tf("name", "王子涵") == pytest.approx(0.1)
    assert reference.tf("name", "欧阳晓远") == pytest.approx(0.001)
    assert reference.tf("name", "从未见过") == pytest.approx(0.001)  # absent: 1/N
    stored = TermFrequencies.from_json(reference.to_json())
    assert "欧阳晓远" not in stored.counts["name"]  # seen once: left out, tf 1/N all the same
    assert stored.tf("name", "欧阳晓远") == reference.tf("name", "欧阳晓远")
    # u_avg, the sum of tf^2 (0.1^2 and the other names, some of which preparation folds together);
    # the stored table, without the names seen once, gives it exactly.
    squares = sum(c * c for c in reference.counts["name"].values())
    assert reference.average("name") == pytest.approx(squares / 1000**2, rel=1e-12)
    assert stored.average("name") == reference.average("name")
    assert reference.average("school") is None


def test_the_adjustment_is_relative_to_the_average_and_capped() -> None:
    assert tf_adjustment(0.01, 0.01) == 0.0
    assert tf_adjustment(0.04, 0.01) == pytest.approx(-2.0)
    assert tf_adjustment(0.005, 0.01) == pytest.approx(1.0)
    assert tf_adjustment(0.0001, 0.01) == pytest.approx(3.0)  # capped at log2(8)
    assert tf_adjustment(0.0, 0.01) == pytest.approx(3.0)


def test_a_rare_name_pair_outranks_a_common_name_pair_only_with_tf() -> None:
    plain = load_model()
    adjusted = plain.with_frequencies(_reference())
    common = (_record("王子涵", "c1"), _record("王子涵", "c2", guardian_name="王剑国"))
    rare = (_record("欧阳晓远", "r1"), _record("欧阳晓远", "r2", guardian_name="王剑国"))
    assert score_pair(*common, plain).weight == score_pair(*rare, plain).weight
    common_tf, rare_tf = score_pair(*common, adjusted), score_pair(*rare, adjusted)
    assert rare_tf.weight > common_tf.weight
    assert rare_tf.probability > common_tf.probability

    name = [s.name for s in plain.config.fields].index("name")
    exact = plain.level_weight(name, 0)
    average = adjusted.frequencies.average("name")  # type: ignore[union-attr]
    assert average is not None
    common_name, rare_name = common_tf.explanation[name], rare_tf.explanation[name]
    assert common_name.tf == pytest.approx(0.1) and rare_name.tf == pytest.approx(0.001)
    assert common_name.weight == pytest.approx(exact + math.log2(average / 0.1), abs=1e-4)
    assert rare_name.weight == pytest.approx(exact + 3.0, abs=1e-4)  # 0.001 < u_avg / 8: capped
    # The guardians agree only as homophones (王建国/王剑国): not the exact level, not adjusted.
    guardian = [s.name for s in plain.config.fields].index("guardian_name")
    assert common_tf.explanation[guardian].tf is None
    assert common_tf.explanation[guardian].weight == score_pair(*common, plain).explanation[guardian].weight


def test_a_name_rarer_than_the_blocked_pairs_u_still_ranks_below_a_rare_one() -> None:
    """EM estimates the exact level's u among blocked pairs (0.667 for names in the shipped model):
    every name is rarer than that, and the adjustment must still tell 6% from 0.2%."""
    plain = load_model()
    reference = _skewed_reference()
    adjusted = plain.with_frequencies(reference)
    name = [s.name for s in plain.config.fields].index("name")
    assert reference.tf("name", "王子涵") == pytest.approx(0.06)
    assert plain.u[name][0] / 8 > 0.06
    common = score_pair(_record("王子涵", "c1"), _record("王子涵", "c2"), adjusted)
    rare = score_pair(_record("欧阳晓远", "r1"), _record("欧阳晓远", "r2"), adjusted)
    average = reference.average("name")
    assert average is not None
    assert rare.explanation[name].weight == pytest.approx(
        plain.level_weight(name, 0) + math.log2(average / 0.002), abs=1e-4
    )
    assert rare.weight - common.weight == pytest.approx(math.log2(0.06 / 0.002), abs=1e-3)


def test_a_name_of_average_frequency_weighs_what_the_level_weighs() -> None:
    """Ten names, a hundred records each: every name is of average frequency (tf = u_avg = 0.1)."""
    plain = load_model()
    adjusted = plain.with_frequencies(_counted([n for n in _other_names(10) for _ in range(100)]))
    a, b = _record(_other_names(10)[3], "a"), _record(_other_names(10)[3], "b", guardian_name="王剑国")
    with_tf, without = score_pair(a, b, adjusted), score_pair(a, b, plain)
    name = [s.name for s in plain.config.fields].index("name")
    assert with_tf.explanation[name].tf == pytest.approx(0.1)
    assert with_tf.explanation[name].weight == without.explanation[name].weight
    assert with_tf.weight == pytest.approx(without.weight, abs=1e-12)


def test_batch_weights_agree_with_the_scorer() -> None:
    model = load_model().with_frequencies(_reference())
    pairs_records = [
        (_record("王子涵", "a"), _record("王子涵", "b")),
        (_record("欧阳晓远", "c"), _record("欧阳晓远", "d", birth_date="2016-09-02")),
        (_record("王子涵", "e"), _record("王子晗", "f", guardian_name="王剑国")),
    ]
    records = [prepare_record(r, model.config) for pair in pairs_records for r in pair]
    index = np.array([[0, 1], [2, 3], [4, 5]], dtype=np.int64)
    levels = np.array(
        [compare_levels(records[i], records[j], model.comparators) for i, j in index], dtype=np.int8
    )
    tf = record_frequencies(records, model)
    assert tf is not None
    batch = model.total_weights(levels, tf[index[:, 0]])
    scorer = [score_pair(a, b, model).weight for a, b in pairs_records]
    assert np.allclose(batch, scorer, atol=1e-3)
