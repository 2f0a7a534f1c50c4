"""Blocking keys: the short strings a record is indexed under so that candidates are found by equality
look-ups (one row per key per person in the registry, or one sort in a batch run) instead of comparing
every pair. The rules are declared in the configuration; each key is the rule name plus the
transformed parts, and a key with an empty part is not emitted. Why the default rules look as they do
is argued in docs/adr/003-matching-blocking-and-thresholds.md.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import fields, is_dataclass
from datetime import date
from enum import Enum
from functools import lru_cache
from typing import Any

import jellyfish

from gateway.identity import CanonicalRecord
from gateway.matching.comparators import (
    DateValue,
    IdValue,
    PreparedRecord,
    prepare_row,
)
from gateway.matching.config import MatchConfig


@lru_cache(maxsize=16)
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def record_to_row(record: Any) -> dict[str, str]:
    """Flatten a canonical record (a dataclass) to column texts, as a CSV row of it would read."""
    if not is_dataclass(record) or isinstance(record, type):
        raise TypeError("expected a dataclass record")
    row: dict[str, str] = {}
    for name in _field_names(type(record)):
        value = getattr(record, name)
        if type(value) is str:  # the common case first (not an Enum: a StrEnum is not exactly str)
            row[name] = value
        elif value is None:
            row[name] = ""
        elif isinstance(value, Enum):
            row[name] = str(value.value)
        elif isinstance(value, date):
            row[name] = value.isoformat()
        else:
            row[name] = str(value)
    return row


def _date_part(value: DateValue, transform: str) -> str:
    d = value.digits
    if transform == "yyyymm":
        return d[:6]
    if transform == "yyyy":
        return d[:4]
    if transform == "mmdd":
        return d[4:]
    if transform == "year_unordered_month_day":
        low, high = sorted((d[4:6], d[6:]))
        return d[:4] + low + high
    return d


def _id_part(value: IdValue, transform: str) -> str:
    n = value.number
    if len(n) != 18 or transform == "value":
        # Only the 18-character GB 11643 layout has parts worth indexing; other documents match whole.
        return n
    if transform == "head14":
        return n[:14]
    if transform == "tail12":
        return n[6:]
    return n[:6] + n[14:]


def _plain_part(value: str, transform: str) -> str:
    if transform == "prefix4":
        return value[:4] if len(value) >= 4 else ""
    if transform == "prefix2":
        return value[:2] if len(value) >= 2 else ""
    if transform == "soundex":
        return jellyfish.soundex(value)
    if transform == "first3":
        return value[:3]
    return value


KeyFunction = Callable[[PreparedRecord], list[str]]
PartFunction = Callable[[Any], str]


def _part_function(kind: str, transform: str) -> PartFunction:
    """The text of one part of a key, specialised once for a field's kind and a transform (the
    prepared values of a field are always of its kind's type, or None)."""
    if kind == "person_name":
        if transform == "pinyin":
            return lambda v: v.pinyin
        if transform == "surname_pinyin":
            return lambda v: v.surname_pinyin
        return lambda v: v.text
    if kind == "date":
        if transform == "yyyymm":
            return lambda v: v.digits[:6]
        if transform == "yyyy":
            return lambda v: v.digits[:4]
        if transform == "mmdd":
            return lambda v: v.digits[4:]
        return lambda v: _date_part(v, transform)
    if kind == "id_number":
        return lambda v: _id_part(v, transform)
    if transform == "value":
        return lambda v: v
    return lambda v: _plain_part(v, transform)


def key_function(config: MatchConfig) -> KeyFunction:
    """Compile the configuration's blocking rules into one function of a prepared record."""
    index = {spec.name: i for i, spec in enumerate(config.fields)}
    compiled: list[tuple[str, bool, list[tuple[int, PartFunction]]]] = []
    for rule in config.blocking:
        parts = []
        for part in rule.parts:
            field_name, _, transform = part.partition(".")
            i = index[field_name]
            parts.append((i, _part_function(config.fields[i].kind, transform)))
        compiled.append((rule.name + ":", rule.unordered, parts))

    def keys(record: PreparedRecord) -> list[str]:
        values = record.values
        out: list[str] = []
        for prefix, unordered, parts in compiled:
            texts: list[str] = []
            for i, part_of in parts:
                value = values[i]
                text = "" if value is None else part_of(value)
                if not text:
                    break  # a key with an empty part is not emitted
                texts.append(text)
            else:
                out.append(prefix + "|".join(sorted(texts) if unordered else texts))
        return out

    return keys


def blocking_keys(record: CanonicalRecord, config: MatchConfig) -> list[str]:
    """The keys the registry stores for a person (one indexed row each) and looks candidates up by."""
    return key_function(config)(prepare_row(record_to_row(record), config))


def prepared_blocking_keys(record: PreparedRecord, config: MatchConfig) -> list[str]:
    """``blocking_keys`` of a record prepared already (``scoring.prepare_record``)."""
    return key_function(config)(record)


def row_blocking_keys(row: Mapping[str, str], config: MatchConfig) -> list[str]:
    """Blocking keys of a row of column texts (batch files, generic configurations)."""
    return key_function(config)(prepare_row(row, config))


def blocking_key_digest(key: str, secret: bytes) -> str:
    """HMAC-SHA256 of a key, for storage: ID-number keys must not sit in an index in clear."""
    return hmac.new(secret, key.encode("utf-8"), hashlib.sha256).hexdigest()
