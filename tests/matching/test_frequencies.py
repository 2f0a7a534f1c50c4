"""Term-frequency adjustment: agreement on a rare name weighs more than agreement on 王子涵, by the
shared formula, in the real-time scorer and the batch weights alike."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gateway.identity import CanonicalRecord, normalise_record
from gateway.matching import load_model, score_pair
from gateway.matching.batch import record_frequencies
from gateway.matching.comparators import compare_levels
from gateway.matching.frequencies import TermFrequencies, count_frequencies
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


def _reference() -> TermFrequencies:
    """1,000 reference records: 王子涵 100 times, 欧阳晓远 once, the rest other names."""
    model = load_model()
    names = (
        ["王子涵"] * 100
        + ["欧阳晓远"]
        + [f"张{chr(0x4E00 + 200 + i % 400)}{chr(0x4E00 + 700 + i // 400)}" for i in range(899)]
    )
    records = [
        prepare_record(_record(n, str(i), guardian_name="李梅"), model.config) for i, n in enumerate(names)
    ]
    return count_frequencies(records, model.config)


def test_tf_counts_the_exact_level_values_of_the_tf_fields() -> None:
    reference = _reference()
    assert reference.totals == {"name": 1000, "guardian_name": 1000}
    assert reference.tf("name", "王子涵") == pytest.approx(0.1)
    assert reference.tf("name", "欧阳晓远") == pytest.approx(0.001)
    assert reference.tf("name", "从未见过") == pytest.approx(0.001)  # absent: 1/N
    stored = TermFrequencies.from_json(reference.to_json())
    assert "欧阳晓远" not in stored.counts["name"]  # seen once: left out, tf 1/N all the same
    assert stored.tf("name", "欧阳晓远") == reference.tf("name", "欧阳晓远")


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
    m, u = plain.m[name][0], plain.u[name][0]
    common_name, rare_name = common_tf.explanation[name], rare_tf.explanation[name]
    assert common_name.tf == pytest.approx(0.1) and rare_name.tf == pytest.approx(0.001)
    assert common_name.weight == pytest.approx(math.log2(m / min(1.0, max(0.1, u / 8))), abs=1e-4)
    assert rare_name.weight == pytest.approx(math.log2(m / min(1.0, max(0.001, u / 8))), abs=1e-4)
    # The guardians agree only as homophones (王建国/王剑国): not the exact level, not adjusted.
    guardian = [s.name for s in plain.config.fields].index("guardian_name")
    assert common_tf.explanation[guardian].tf is None
    assert common_tf.explanation[guardian].weight == score_pair(*common, plain).explanation[guardian].weight


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
