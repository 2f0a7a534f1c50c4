"""Independent builders for test numbers: the GB 11643 MOD 11-2 check character computed from the
weights in identity-documents.md, not from the code under test."""

from __future__ import annotations

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"


def check_char(first17: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def make_id(region: str, yyyymmdd: str, sequence: str) -> str:
    first17 = region + yyyymmdd + sequence
    return first17 + check_char(first17)


def wrong_check(number: str) -> str:
    right = number[-1]
    wrong = next(c for c in "0123456789X" if c != right)
    return number[:-1] + wrong
