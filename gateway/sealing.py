"""Resident ID numbers at rest: sealed wherever the database would otherwise hold them in clear.

A ``G`` code is ``G`` + a resident ID number (student-codes.md), so a code column holds ID numbers,
and so may stored text (idempotency replies, feed details, notes). Document numbers themselves are
already stored AES-GCM-encrypted (``gateway.keyring``); codes cannot be, because they are looked up,
joined and kept unique by value. So they are sealed by deterministic authenticated encryption
(AES-SIV, RFC 5297) under a key of their own: the same number always seals to the same token, so
equality, uniqueness, joins and indexes keep working on the sealed form, and only a holder of the
key can open a token or make one that opens (ADR 007).

The sealed form of a number is ``~`` + 32 base64url characters; a ``G`` code is stored as ``G`` +
the sealed number (34 characters), so its type letter stays first. Code columns use
``SealedCode``: a full ``G`` code is sealed, anything else (``L`` and ``J`` codes, a ``LIKE`` prefix,
partial input) passes unchanged. Text columns use ``SealedText``: every ID-number-shaped run in
the text is sealed on the way in and opened on the way out.

The key reaches the column types through one process-wide sealer, installed at start-up from the
keyring (``install``); writing or reading an ID number with none installed raises
``SealingKeyMissing`` rather than storing it in clear.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from sqlalchemy import String, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from gateway.keyring import KeyRing

MARKER = "~"
SEALED_NUMBER_LENGTH = 33  # the marker + base64url of the 8-byte packed number and the 16-byte SIV
CODE_WIDTH = 40  # a sealed G code is 34 characters; the rest is room for a key version later
# What the SIV also covers: a token made under the same key for anything else never opens here.
_ASSOCIATED = [b"gateway sealed resident id number v1"]
_CHECK = "0123456789Xx"

# ASCII digits only: a number in other digits (full-width, say) is no stored code and would not pack.
_G_CODE = re.compile(r"G\d{17}[\dX]", re.ASCII)
# An ID number in text: 18 characters not inside a longer run of digits or letters (a G before it
# is allowed: the number inside a G code).
_NUMBER_IN_TEXT = re.compile(r"(?:(?<=[Gg])|(?<![0-9A-Za-z]))\d{17}[\dXx](?![0-9A-Za-z])", re.ASCII)
_SEALED_IN_TEXT = re.compile(re.escape(MARKER) + r"[A-Za-z0-9_-]{32}")


class SealingKeyMissing(RuntimeError):
    """An ID number was to be written or read, but no sealer is installed in this process."""

    def __init__(self) -> None:
        super().__init__(
            "no sealing key installed: a G code or ID number can be neither stored nor read back "
            "(install one at start-up with gateway.sealing.install)"
        )


class UnreadableSeal(ValueError):
    """A sealed value that this key did not make (another key, or altered)."""


def _pack(number: str) -> bytes:
    # 17 digits and a check character in 8 bytes: 10**17 * 12 < 2**64.
    return (int(number[:17]) * len(_CHECK) + _CHECK.index(number[17])).to_bytes(8, "big")


def _unpack(raw: bytes) -> str:
    digits, check = divmod(int.from_bytes(raw, "big"), len(_CHECK))
    return f"{digits:017d}{_CHECK[check]}"


class Sealer:
    """Seals and opens resident ID numbers, alone, inside G codes and inside text, with one key."""

    def __init__(self, key: bytes) -> None:
        self._siv = AESSIV(key)

    def seal_number(self, number: str) -> str:
        sealed = self._siv.encrypt(_pack(number), _ASSOCIATED)
        return MARKER + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def open_number(self, token: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(token[1:] + "=" * (-(len(token) - 1) % 4))
            return _unpack(self._siv.decrypt(raw, _ASSOCIATED))
        except (InvalidTag, ValueError) as exc:
            raise UnreadableSeal("a sealed value this key did not make") from exc

    def seal_code(self, code: str) -> str:
        """A full G code sealed; anything else unchanged."""
        return code[0] + self.seal_number(code[1:]) if is_g_code(code) else code

    def open_code(self, stored: str) -> str:
        return stored[0] + self.open_number(stored[1:]) if is_sealed_code(stored) else stored

    def seal_text(self, text: str) -> str:
        return _NUMBER_IN_TEXT.sub(lambda m: self.seal_number(m.group(0)), text)

    def open_text(self, text: str) -> str:
        def opened(match: re.Match[str]) -> str:
            try:
                return self.open_number(match.group(0))
            except UnreadableSeal:
                return match.group(0)  # not ours: text that merely looks like a token

        return _SEALED_IN_TEXT.sub(opened, text)


def is_g_code(value: str) -> bool:
    return _G_CODE.fullmatch(value) is not None


def is_sealed_code(value: str) -> bool:
    return len(value) == 1 + SEALED_NUMBER_LENGTH and value[1:2] == MARKER


def has_number(text: str) -> bool:
    return _NUMBER_IN_TEXT.search(text) is not None


def has_sealed(text: str) -> bool:
    return MARKER in text and _SEALED_IN_TEXT.search(text) is not None


_installed: Sealer | None = None


def install(sealer: Sealer | None) -> None:
    """Make ``sealer`` the one every sealed column of this process uses (None: none, for tests)."""
    global _installed
    _installed = sealer


def install_from(keyring: KeyRing) -> None:
    """Install the sealer of ``keyring``'s sealing key: every entry point does, right after loading keys."""
    install(Sealer(keyring.sealing_key))


def installed() -> Sealer:
    if _installed is None:
        raise SealingKeyMissing()
    return _installed


class SealedCode(TypeDecorator[str]):
    """A student-code column: G codes stored sealed, L and J codes (and any other value) as given."""

    impl = String(CODE_WIDTH)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and is_g_code(value):
            return installed().seal_code(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and is_sealed_code(value):
            return installed().open_code(value)
        return value


class SealedText(TypeDecorator[str]):
    """A text column in which every ID number (alone or inside a G code) is stored sealed.

    A sealed number takes 33 characters where it took 18, so a column that holds at most ``length``
    characters as given is made twice as wide (each number needs a separator: 19 characters become
    at most 34).
    """

    impl = String
    cache_ok = True

    def __init__(self, length: int | None = None) -> None:
        super().__init__(length=None if length is None else 2 * length)

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and has_number(value):
            return installed().seal_text(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and has_sealed(value):
            return installed().open_text(value)
        return value


def stored_values(table: Table, row: Mapping[str, Any], dialect: Dialect) -> dict[str, Any]:
    """``row`` as ``table``'s sealed columns store it: for SQL that bypasses the column types, such
    as the rows ``gateway_append`` inserts from JSON."""
    out = dict(row)
    for name, value in row.items():
        column = table.columns.get(name)
        if column is not None and isinstance(column.type, SealedCode | SealedText):
            out[name] = column.type.process_bind_param(value, dialect)
    return out
