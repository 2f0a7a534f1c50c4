"""The matching model compiled to SQL: the configuration's agreement levels, the model's weights (with
term-frequency adjustment), the hard rules and the bands, as one SELECT over a table of candidate
pairs joined twice to the prepared records (``gateway.matching.columns``). The same text runs on DuckDB
and on Spark SQL: it uses only functions both engines have (``levenshtein``, ``substr``, ``log2``,
``power``, ``array_contains``) and three that each executor defines under our own names:
``match_jaro_winkler`` and ``match_damerau`` (macros over DuckDB's native functions, which agree with
jellyfish; pandas UDFs over jellyfish on Spark, whose built-in Jaro-Winkler scores differently) and
``arrays_overlap`` (native in Spark, a macro over ``list_has_any`` in DuckDB).

Every predicate mirrors one rule of ``gateway.matching.comparators`` and ``scoring.hard_rules_fired``;
the parity test (tests/matching/test_executors.py) holds them to the Python scorer, pair by pair.
Weights are the Python model's own doubles written with ``repr`` and summed in the same order, so the
scores agree to the last bit where no term frequency is involved.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.matching.config import FieldSpec, LevelSpec, MatchConfig
from gateway.matching.frequencies import TF_U_DIVISOR
from gateway.matching.model import MatchModel

BAND_CODES = {"non_match": 0, "review": 1, "match": 2}


def _lit(value: float) -> str:
    return f"CAST({value!r} AS DOUBLE)"


def _both(i: int) -> str:
    return f"l.f{i} IS NOT NULL AND r.f{i} IS NOT NULL"


def _name_rule(i: int, rule: str, level: LevelSpec) -> str:
    f = f"f{i}"
    if rule == "exact":
        return f"l.{f} = r.{f}"
    if rule == "same_pinyin":
        return f"l.{f}_py = r.{f}_py"
    if rule == "same_reading":
        return same_reading_sql(i)
    # pinyin_jaro_winkler: with one surname only the given names (see comparators.pinyin_similarity)
    return (
        f"(CASE WHEN l.{f}_sn <> '' AND l.{f}_sn = r.{f}_sn "
        f"THEN match_jaro_winkler(l.{f}_gpy, r.{f}_gpy) "
        f"ELSE match_jaro_winkler(l.{f}_py, r.{f}_py) END) >= {_lit(level.threshold or 1.0)}"
    )


def same_reading_sql(i: int) -> str:
    """The homophone test of ``comparators.same_reading``. The readings come from ``rd{i}`` (joined
    as ``rl{i}``/``rr{i}``), filled for every name of a pair where the test can matter
    (``readings_needed_sql``); elsewhere they are NULL, and so is the test, which then never holds."""
    f = f"f{i}"
    return (
        f"(l.{f}_py = r.{f}_py OR array_contains(rr{i}.rd, l.{f}_py) "
        f"OR array_contains(rl{i}.rd, r.{f}_py) OR arrays_overlap(rl{i}.rd, rr{i}.rd))"
    )


def readings_fields(config: MatchConfig) -> list[int]:
    """Name fields whose homophone test is used: a same_reading level, or the twins guard's name."""
    out = []
    for i, spec in enumerate(config.fields):
        if spec.kind != "person_name":
            continue
        in_levels = any("same_reading" in level.rules for level in spec.levels)
        if in_levels or (config.hard_rules.twins_guard and config.hard_rules.name_field == spec.name):
            out.append(i)
    return out


def levels_read_readings(config: MatchConfig) -> bool:
    """Whether any agreement level (not only the twins guard) uses the homophone test."""
    return any("same_reading" in level.rules for spec in config.fields for level in spec.levels)


def readings_joins(config: MatchConfig) -> str:
    return "".join(
        f" LEFT JOIN rd{i} rl{i} ON rl{i}.v = l.f{i} LEFT JOIN rd{i} rr{i} ON rr{i}.v = r.f{i}"
        for i in readings_fields(config)
    )


def readings_needed_sql(config: MatchConfig, i: int, pairs: str, records: str) -> str:
    """Names of field ``i`` in ``pairs`` whose readings the homophone test needs and ``rd{i}`` lacks:
    those of pairs whose primary readings differ (and, when only the twins guard asks, whose surnames
    agree while the names do not)."""
    f = f"f{i}"
    in_levels = any("same_reading" in level.rules for level in config.fields[i].levels)
    twins_only = "" if in_levels else f" AND l.{f}_sn = r.{f}_sn AND l.{f}_sn <> '' AND l.{f} <> r.{f}"
    names = (
        f"SELECT l.{f} AS a, r.{f} AS b FROM {pairs} p JOIN {records} l ON l.rid = p.rid_l "
        f"JOIN {records} r ON r.rid = p.rid_r WHERE l.{f}_py <> r.{f}_py{twins_only}"
    )
    return (
        f"WITH needing AS ({names}), wanted AS (SELECT a AS v FROM needing UNION SELECT b AS v FROM needing) "
        f"SELECT w.v FROM wanted w LEFT JOIN rd{i} k ON k.v = w.v WHERE k.v IS NULL ORDER BY w.v"
    )


def _date_rule(i: int, rule: str, level: LevelSpec) -> str:
    f = f"f{i}"
    if rule == "exact":
        return f"l.{f} = r.{f}"
    if rule == "day_month_swap":
        return f"(l.{f}_y = r.{f}_y AND l.{f}_m <> l.{f}_d AND l.{f}_m = r.{f}_d AND l.{f}_d = r.{f}_m)"
    if rule == "within_days":
        return (
            f"(l.{f}_ord IS NOT NULL AND r.{f}_ord IS NOT NULL "
            f"AND abs(l.{f}_ord - r.{f}_ord) <= {int(level.days or 0)})"
        )
    if rule == "year_slip":
        return f"(l.{f}_m = r.{f}_m AND l.{f}_d = r.{f}_d AND abs(l.{f}_y - r.{f}_y) = 1)"
    if rule == "one_digit":
        # Equal lengths: one edit that keeps the length is one substitution (a Hamming distance of 1).
        return f"(length(l.{f}) = length(r.{f}) AND levenshtein(l.{f}, r.{f}) = 1)"
    return f"(l.{f}_y = r.{f}_y AND l.{f}_m = r.{f}_m)"  # same_year_month


def _id_rule(i: int, rule: str, level: LevelSpec) -> str:
    f = f"f{i}"
    if rule == "exact_consistent":
        return f"(l.{f} = r.{f} AND l.{f}_cons AND r.{f}_cons)"
    if rule == "exact":
        return f"l.{f} = r.{f}"
    if rule == "one_substitution":
        return f"(length(l.{f}) = length(r.{f}) AND levenshtein(l.{f}, r.{f}) = 1)"
    # adjacent_transposition: one Damerau edit that is not one Levenshtein edit, lengths equal
    return (
        f"(length(l.{f}) = length(r.{f}) AND match_damerau(l.{f}, r.{f}) = 1 "
        f"AND levenshtein(l.{f}, r.{f}) = 2)"
    )


def _region_rule(i: int, rule: str, level: LevelSpec) -> str:
    n = int(level.length or 6)
    return f"(length(l.f{i}) >= {n} AND substr(l.f{i}, 1, {n}) = substr(r.f{i}, 1, {n}))"


def _string_rule(i: int, rule: str, level: LevelSpec) -> str:
    f = f"f{i}"
    if rule == "exact":
        return f"l.{f} = r.{f}"
    if rule == "jaro_winkler":
        return f"match_jaro_winkler(l.{f}, r.{f}) >= {_lit(level.threshold or 1.0)}"
    return f"levenshtein(l.{f}, r.{f}) <= {int(level.distance or 0)}"


_RULES = {
    "person_name": _name_rule,
    "date": _date_rule,
    "id_number": _id_rule,
    "region": _region_rule,
    "string": _string_rule,
    "category": _string_rule,
}


def level_sql(i: int, spec: FieldSpec) -> str:
    """The agreement level of field ``i`` of a pair ``l``/``r`` (-1 when either value is missing)."""
    rule_sql = _RULES[spec.kind]
    whens = [f"WHEN l.f{i} IS NULL OR r.f{i} IS NULL THEN -1"]
    for index, level in enumerate(spec.levels[:-1]):
        held = " OR ".join(f"({rule_sql(i, rule, level)})" for rule in level.rules)
        whens.append(f"WHEN {held} THEN {index}")
    return f"CASE {' '.join(whens)} ELSE {len(spec.levels) - 1} END"


def _field_index(config: MatchConfig, name: str | None) -> int | None:
    for i, spec in enumerate(config.fields):
        if spec.name == name:
            return i
    return None


def _labels_in(config: MatchConfig, i: int | None, labels: list[str]) -> str:
    if i is None:
        return "FALSE"
    wanted = [str(k) for k in config.fields[i].level_codes(labels)]
    return f"lv{i} IN ({', '.join(wanted)})" if wanted else "FALSE"


def hard_rules_sql(config: MatchConfig) -> tuple[str, str, str]:
    """(twins guard, distinct citizen IDs, no name-or-ID agreement) as booleans of a pair; the last
    reads the level columns ``lv{i}``, the others the records."""
    rules = config.hard_rules
    name = _field_index(config, rules.name_field)
    birth = _field_index(config, rules.birth_date_field)
    region = _field_index(config, rules.region_field)
    doc = _field_index(config, rules.id_field)
    guardian = _field_index(config, rules.guardian_field)
    gender = _field_index(config, rules.gender_field)
    differ = "FALSE" if gender is None else f"({_both(gender)} AND l.f{gender} <> r.f{gender})"
    same_id = "FALSE" if doc is None else f"({_both(doc)} AND l.f{doc} = r.f{doc} AND NOT {differ})"
    twins = "FALSE"
    if rules.twins_guard and None not in (name, birth, region):
        assert name is not None and birth is not None and region is not None
        n, b, g = f"f{name}", f"f{birth}", f"f{region}"
        twins = (
            f"(NOT {same_id} AND {_both(name)} AND l.{n}_sn = r.{n}_sn AND l.{n}_sn <> '' "
            f"AND l.{n} <> r.{n} AND NOT {same_reading_sql(name)} AND {_both(birth)} "
            f"AND (l.{b} = r.{b} OR (l.{b}_ord IS NOT NULL AND r.{b}_ord IS NOT NULL "
            f"AND abs(l.{b}_ord - r.{b}_ord) <= 1)) "
            f"AND {_both(region)} AND substr(l.{g}, 1, 4) = substr(r.{g}, 1, 4))"
        )
    distinct = "FALSE"
    if rules.distinct_ids_veto and doc is not None:
        consistent = f" AND l.f{doc}_cons AND r.f{doc}_cons" if rules.distinct_ids_only_consistent else ""
        distinct = (
            f"({_both(doc)} AND l.f{doc}_valid AND r.f{doc}_valid AND l.f{doc} <> r.f{doc}{consistent})"
        )
    name_or_id = "FALSE"
    if rules.require_name_or_id:
        name_or_id = (
            f"NOT ({_labels_in(config, name, rules.name_confirming_levels)} OR "
            f"({_labels_in(config, doc, rules.id_confirming_levels)} AND "
            f"({_labels_in(config, name, rules.name_levels_with_id)} OR "
            f"{_labels_in(config, guardian, rules.guardian_confirming_levels)})))"
        )
    return (
        f"COALESCE({twins}, FALSE)",
        f"COALESCE({distinct}, FALSE)",
        f"COALESCE({name_or_id}, FALSE)",
    )


def decisive_sql(config: MatchConfig) -> tuple[str, str]:
    """``scoring.decisive_rule`` in two parts: whether both ID numbers are valid citizen numbers (over
    the records) and, given that column as ``valid_ids``, the rule itself (over the level columns)."""
    rules = config.hard_rules
    doc = _field_index(config, rules.id_field)
    if not rules.decisive_id_and_name or doc is None or config.fields[doc].kind != "id_number":
        return "FALSE", "FALSE"
    name = _field_index(config, rules.name_field)
    valid = f"COALESCE(l.f{doc}_valid AND r.f{doc}_valid, FALSE)"
    held = (
        f"({_labels_in(config, doc, rules.decisive_id_levels)} AND "
        f"{_labels_in(config, name, rules.decisive_name_levels)} AND valid_ids)"
    )
    return valid, held


def tf_fields(config: MatchConfig) -> list[int]:
    """Indexes of the fields whose exact agreement is weighed by the value's frequency."""
    return [i for i, spec in enumerate(config.fields) if spec.tf_adjustment]


def tf_table_sql(i: int, records: str) -> str:
    """The term frequencies of field ``i`` in ``records`` (the reference): value, tf."""
    return (
        f"SELECT f{i} AS v, CAST(count(*) AS DOUBLE) / "
        f"(SELECT CAST(count(f{i}) AS DOUBLE) FROM {records}) AS tf "
        f"FROM {records} WHERE f{i} IS NOT NULL GROUP BY f{i}"
    )


def tf_average_sql(table: str) -> str:
    """u_avg of a TF table (v, tf): the chance that two random reference records share a value."""
    return f"SELECT sum(tf * tf) AS u FROM {table}"


def _weight_sql(model: MatchModel, i: int, tf: bool) -> str:
    spec = model.config.fields[i]
    whens = []
    for level in range(len(spec.levels)):
        w = model.level_weight(i, level)
        if level == 0 and tf:
            # frequencies.tf_adjustment: the level's weight plus log2(u_avg / max(tf, u_avg / 8)).
            w_sql = f"{_lit(w)} + log2(tfu{i} / greatest(tf{i}, tfu{i} / {_lit(TF_U_DIVISOR)}))"
        else:
            w_sql = _lit(w)
        whens.append(f"WHEN {level} THEN {w_sql}")
    return f"CASE lv{i} {' '.join(whens)} ELSE CAST(0.0 AS DOUBLE) END"


@dataclass(frozen=True)
class ScoreQuery:
    """The SQL that scores the pairs of ``pairs`` (columns rid_l, rid_r) against ``records``."""

    sql: str
    n_fields: int


def levels_select(config: MatchConfig, pairs: str, records: str) -> str:
    """rid_l, rid_r and the level of every field ``lv{i}`` of the pairs in ``pairs``."""
    levels = ", ".join(f"{level_sql(i, spec)} AS lv{i}" for i, spec in enumerate(config.fields))
    return (
        f"SELECT p.rid_l, p.rid_r, {levels} FROM {pairs} p "
        f"JOIN {records} l ON l.rid = p.rid_l JOIN {records} r ON r.rid = p.rid_r{readings_joins(config)}"
    )


def score_sql(
    model: MatchModel,
    pairs: str,
    records: str,
    *,
    tf_tables: dict[int, str] | None = None,
    tf_missing: dict[int, float] | None = None,
    kept_only: bool = True,
) -> str:
    """Score every pair of ``pairs``: levels ``lv{i}``, weights ``w{i}``, term frequencies ``tf{i}``,
    ``weight``, ``probability``, the hard rules fired, whether the decisive rule holds (``decisive``:
    auto-linked unless vetoed, whatever the probability) and the ``band`` (0 non-match, 1 review,
    2 match).
    ``tf_tables`` maps a TF field to its table (v, tf) of the whole reference (u_avg is summed over
    it); ``tf_missing`` gives 1/N for absent values."""
    config = model.config
    tf_tables = tf_tables or {}
    tf_missing = tf_missing or {}
    twins, distinct, name_or_id = hard_rules_sql(config)
    valid_ids, decisive = decisive_sql(config)
    n = len(config.fields)
    levels = ", ".join(f"{level_sql(i, spec)} AS lv{i}" for i, spec in enumerate(config.fields))
    tf_cols = "".join(
        f", COALESCE(t{i}.tf, {_lit(tf_missing.get(i, 1.0))}) AS tf{i}, a{i}.u AS tfu{i}"
        for i in sorted(tf_tables)
    )
    tf_joins = "".join(
        f" LEFT JOIN {table} t{i} ON t{i}.v = l.f{i} CROSS JOIN ({tf_average_sql(table)}) a{i}"
        for i, table in sorted(tf_tables.items())
    )
    compared = (
        f"SELECT p.rid_l, p.rid_r, l.record_id AS record_id_1, r.record_id AS record_id_2, {levels}, "
        f"{twins} AS twins, {distinct} AS distinct_ids, {valid_ids} AS valid_ids{tf_cols} "
        f"FROM {pairs} p JOIN {records} l ON l.rid = p.rid_l JOIN {records} r ON r.rid = p.rid_r"
        f"{readings_joins(config)}{tf_joins}"
    )
    weights = ", ".join(f"{_weight_sql(model, i, i in tf_tables)} AS w{i}" for i in range(n))
    total = " + ".join([_lit(model.prior_weight), *(f"w{i}" for i in range(n))])
    tf_pass = "".join(f", tf{i}" for i in sorted(tf_tables))
    level_cols = ", ".join(f"lv{i}" for i in range(n))
    weighted = (
        f"SELECT rid_l, rid_r, record_id_1, record_id_2, {level_cols}, twins, distinct_ids, "
        f"{name_or_id} AS name_or_id, {decisive} AS decisive{tf_pass}, {weights} FROM compared"
    )
    th = config.thresholds
    # As model.probability_from_weight: certain above 60 bits, else odds / (1 + odds).
    probability = (
        "CASE WHEN weight > 60 THEN CAST(1.0 AS DOUBLE) "
        "ELSE power(2.0, weight) / (1.0 + power(2.0, weight)) END"
    )
    vetoed = "(twins OR distinct_ids OR name_or_id)"
    band = (
        f"CASE WHEN (probability >= {_lit(th.match_probability)} OR decisive) AND NOT {vetoed} THEN 2 "
        f"WHEN probability >= {_lit(th.review_probability)} OR ({vetoed} AND probability >= "
        f"{_lit(th.match_probability)}) THEN 1 ELSE 0 END"
    )
    w_cols = ", ".join(f"w{i}" for i in range(n))
    totalled = f"SELECT *, {total} AS weight FROM weighted"
    probable = f"SELECT *, {probability} AS probability FROM totalled"
    banded = f"SELECT *, {band} AS band FROM probable"
    where = " WHERE band > 0" if kept_only else ""
    return (
        f"WITH compared AS ({compared}), weighted AS ({weighted}), totalled AS ({totalled}), "
        f"probable AS ({probable}), banded AS ({banded}) "
        f"SELECT rid_l, rid_r, record_id_1, record_id_2, {level_cols}, {w_cols}{tf_pass}, weight, "
        f"probability, twins, distinct_ids, name_or_id, decisive, band FROM banded{where}"
    )


def candidate_pairs_sql(config: MatchConfig, keys: str, *, link: bool = False) -> str:
    """Unique pairs (rid_l < rid_r) sharing a blocking key whose block is at most its rule's
    ``max_block_size``; with ``link``, only pairs across the two sources."""
    return f"SELECT DISTINCT rid_l, rid_r FROM ({_pairs_of_rules_sql(config, keys, link)}) p"


def candidate_pair_rules_sql(config: MatchConfig, keys: str, *, link: bool = False) -> str:
    """The candidate pairs of ``candidate_pairs_sql`` tagged by the rule that produced them
    (rid_l, rid_r, rule), one row per pair and rule: a pair may come from several rules."""
    return f"SELECT DISTINCT rid_l, rid_r, rule FROM ({_pairs_of_rules_sql(config, keys, link)}) p"


def _pairs_of_rules_sql(config: MatchConfig, keys: str, link: bool) -> str:
    caps = " ".join(f"WHEN {r} THEN {rule.max_block_size}" for r, rule in enumerate(config.blocking))
    blocks = (
        f"SELECT key FROM {keys} GROUP BY key, rule "
        f"HAVING count(*) >= 2 AND count(*) <= CASE rule {caps} ELSE 0 END"
    )
    across = " AND a.src <> b.src" if link else ""
    return (
        f"WITH kept AS ({blocks}), members AS (SELECT k.rid, k.src, k.key, k.rule FROM {keys} k "
        f"JOIN kept USING (key)) "
        f"SELECT a.rid AS rid_l, b.rid AS rid_r, a.rule AS rule FROM members a JOIN members b "
        f"ON a.key = b.key AND a.rid < b.rid{across}"
    )
