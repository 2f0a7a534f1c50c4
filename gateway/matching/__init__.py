"""The identity matching engine: pure, declarative and explainable Fellegi-Sunter scoring of canonical
student records, with the blocking keys the registry indexes candidates by, and the batch, training and
evaluation tools built on the same comparators.

Public interface (what the registry, the API and the CLI call):

- ``load_config(path: Path | None = None) -> MatchConfig``: a validated, versioned configuration
  (``name``, ``version``, fields and levels, blocking rules, hard rules, thresholds); ``None`` loads
  the shipped ``default_student.toml``.
- ``load_model(path: Path | None = None, config: MatchConfig | None = None) -> MatchModel``: the
  configuration with its trained m/u probabilities and prior (shipped ``default_student_model.json``,
  estimated by ``gateway train``); load it once at start-up, never train per request.
- ``blocking_keys(record: CanonicalRecord, config: MatchConfig) -> list[str]``: the keys to store in
  an indexed table (one row per key per person) and to look candidates up by (store
  ``blocking_key_digest(key, secret)`` rather than the key: keys contain ID-number fragments).
- ``score_pair(a: CanonicalRecord, b: CanonicalRecord, model: MatchModel) -> MatchResult``:
  probability, weight, band (match / review / non_match), grade (certain / probable / possible /
  certainly-not), per-field explanation (field, level, weight), hard rules fired, config name+version.
- ``rank_candidates(query, candidates, model) -> list[MatchResult]``: score and sort, best first
  (``prepare_record`` once and ``rank_prepared``, ``prepared_blocking_keys`` when one record is
  searched with and scored against many times).
- ``search_outcome(results: list[MatchResult], config: MatchConfig) -> str``: no_match,
  possible_matches, exact_match or too_many_matches.
- ``generate_population(n: int, seed: int) -> list[CanonicalRecord]`` (and ``iter_population``):
  clean, distinct synthetic persons; ``generate_labelled`` for messy labelled submissions.
- ``gateway.matching.batch``: ``dedupe_file`` / ``link_files``; ``gateway.matching.commands``:
  the ``dedupe``, ``link``, ``eval``, ``train`` and ``generate-records`` commands (``register(app)``).
"""

from gateway.matching.blocking import (
    blocking_key_digest,
    blocking_keys,
    prepared_blocking_keys,
    record_to_row,
)
from gateway.matching.config import MatchConfig, load_config
from gateway.matching.model import MatchModel, load_model
from gateway.matching.scoring import (
    FieldExplanation,
    MatchResult,
    prepare_record,
    rank_candidates,
    rank_prepared,
    score_pair,
    search_outcome,
)
from gateway.matching.synthetic import generate_labelled, generate_population, iter_population

__all__ = [
    "FieldExplanation",
    "MatchConfig",
    "MatchModel",
    "MatchResult",
    "blocking_key_digest",
    "blocking_keys",
    "generate_labelled",
    "generate_population",
    "iter_population",
    "load_config",
    "load_model",
    "prepare_record",
    "prepared_blocking_keys",
    "rank_candidates",
    "rank_prepared",
    "record_to_row",
    "score_pair",
    "search_outcome",
]
