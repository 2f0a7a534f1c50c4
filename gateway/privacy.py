"""Masking of personal identifiers wherever a full value is not needed (responses, logs, audit).

The rule of the national system: first 6 + ``********`` + last 4 for ID numbers. ``mask_id_numbers``
finds anything shaped like a resident ID number (18 characters ending in a digit or X, or a legacy
15-digit number) inside free text, so that a number can't leak through a message or a log line.
"""

from __future__ import annotations

import re

# A G student code is "G" + the resident ID number, so it is masked like the number it carries.
_ID_SHAPED = re.compile(
    r"(?<![0-9A-Za-z])[Gg]?(\d{6})(\d{8})(\d{3}[0-9Xx])(?![0-9A-Za-z])|(?<!\d)(\d{6})(\d{5})(\d{4})(?!\d)"
)


def mask_id_number(number: str | None) -> str | None:
    """Mask one document number: first 6 + ******** + last 4 (short numbers keep only their last 2)."""
    if number is None:
        return None
    if len(number) >= 12:
        return f"{number[:6]}********{number[-4:]}"
    if len(number) > 4:
        return "*" * (len(number) - 2) + number[-2:]
    return "*" * len(number)


def _mask_match(match: re.Match[str]) -> str:
    text = match.group(0)
    if text[0] in "Gg":
        return text[0] + (mask_id_number(text[1:]) or "")
    return mask_id_number(text) or ""


def mask_id_numbers(text: str) -> str:
    """Mask every ID-number-shaped run of characters in ``text``."""
    return _ID_SHAPED.sub(_mask_match, text)


def mask_code(code: str | None) -> str | None:
    """A student code as it may be shown without disclosing an ID number.

    A ``G`` code is ``G`` + the holder's resident ID number, so it is masked exactly like that number
    (``G`` + first 6 + ``********`` + last 4). ``L`` and ``J`` codes carry no document number and are
    shown as they are.
    """
    if code is None or code[:1] not in ("G", "g"):
        return code
    return code[0] + (mask_id_number(code[1:]) or "")


def disclosed_code(
    code: str | None, *, supplied: frozenset[str] | set[str] = frozenset(), full: bool = False
) -> str | None:
    """The form of ``code`` a caller may see: in full when ``full`` (the caller may see ID numbers in
    full, e.g. ``handoff:identity`` on a handoff record) or when the caller supplied that very code,
    or its ID number, in the request (echoing it back discloses nothing); masked otherwise."""
    if code is None or full or code in supplied or code[1:] in supplied:
        return code
    return mask_code(code)
