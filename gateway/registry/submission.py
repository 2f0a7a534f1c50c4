"""A registration's body, normalised: the ``Submission`` that registration, verification and
problem records pass around, and ``parse_submission``, which refuses a body naming each bad field.

Nothing here touches the database: a problem record keeps a submission (encrypted) and reads it back
through ``parse_submission`` too, so a reviewer decides on exactly what the registrant sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.errors import FieldError, InvalidInput
from gateway.identity import CanonicalRecord, normalise_record, validate_document

REGISTRATION_FIELDS = ("school_code", "school_region", "guardian_id_number", "grade")


@dataclass(frozen=True)
class Submission:
    record: CanonicalRecord
    school_code: str
    school_region: str
    guardian_id_number: str | None
    warnings: list[dict[str, str]]
    flags: list[str]
    grade: int | None = None


def parse_grade(value: Any, field: str = "grade") -> tuple[int | None, list[FieldError]]:
    """An optional grade, 1-12 (1-6 primary, 7-9 junior, 10-12 senior), as a number or digits."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, []
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if text.isdigit() and 1 <= int(text) <= 12:
        return int(text), []
    return None, [FieldError(field, "invalid", f"{field} must be a grade from 1 to 12")]


def parse_submission(body: Any) -> Submission:
    """Normalise a registration body; every refusal names its field (422), nothing is stored."""
    if not isinstance(body, dict):
        raise InvalidInput(errors=[FieldError("body", "not_an_object", "the body must be a JSON object")])
    errors: list[FieldError] = []
    school_code = body.get("school_code")
    school_region = body.get("school_region")
    if not isinstance(school_code, str) or not (len(school_code) == 10 and school_code.isdigit()):
        errors.append(
            FieldError("school_code", "invalid", "school_code must be the 10-digit school identifier")
        )
    if not isinstance(school_region, str) or not (len(school_region) == 6 and school_region.isdigit()):
        errors.append(
            FieldError("school_region", "invalid", "school_region must be a 6-digit GB/T 2260 code")
        )
    elif not errors and isinstance(school_code, str) and school_code[:6] != school_region:
        # A school identifier begins with its county's code: a mismatch files the child in one county
        # under a school of another, past the jurisdiction check (which looks at the region).
        errors.append(
            FieldError(
                "school_code",
                "region_mismatch",
                f"school_code {school_code} is not a school of region {school_region} (its first 6 digits)",
            )
        )
    guardian_id = body.get("guardian_id_number")
    if guardian_id is not None:
        check = validate_document("resident_id", guardian_id) if isinstance(guardian_id, str) else None
        if check is None or not check.valid:
            errors.append(
                FieldError(
                    "guardian_id_number", "invalid", "guardian_id_number must be a valid resident ID number"
                )
            )
        else:
            guardian_id = check.number
    grade, grade_errors = parse_grade(body.get("grade"))
    errors.extend(grade_errors)
    record_fields = {k: v for k, v in body.items() if k not in REGISTRATION_FIELDS}
    record_fields.setdefault("school_code", school_code)
    normalised = normalise_record(record_fields)
    errors.extend(FieldError(i.field, i.code, i.message) for i in normalised.errors)
    if errors or normalised.record is None:
        raise InvalidInput(errors=errors)
    return Submission(
        record=normalised.record,
        school_code=str(school_code),
        school_region=str(school_region),
        guardian_id_number=guardian_id if isinstance(guardian_id, str) else None,
        warnings=[{"field": w.field, "code": w.code, "message": w.message} for w in normalised.warnings],
        flags=list(normalised.flags),
        grade=grade,
    )
