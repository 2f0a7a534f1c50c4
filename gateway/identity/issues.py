"""The shapes every identity check reports in: one problem with one field (`FieldIssue`), and the
exception (`InvalidField`) a single-field normaliser raises when its input cannot be used. Codes are
short machine-readable strings (``bad_check_character``, ``future_birth_date``...) that callers and
schools can act on; messages are for people and never echo an ID number in full."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldIssue:
    """One error or warning about one field of a record or document."""

    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


class InvalidField(ValueError):
    """A value that no accepted spelling turns into a canonical one."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.code = code
        self.message = message

    @property
    def issue(self) -> FieldIssue:
        return FieldIssue(self.field, self.code, self.message)
