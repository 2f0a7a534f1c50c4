"""Wire types every domain's requests share: row ids that fit the database, and text without control
characters.

Each type states in the OpenAPI description what its validation enforces (bounds, a pattern), so
that a client, the docs and a fuzzer read the same rule the server applies, and a value that breaks
it is refused with a 422 naming the field before it reaches a query, a URL parser or a log line.
"""

from __future__ import annotations

import re
from typing import Annotated

from annotated_types import Interval
from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

MAX_ROW_ID = 2**31 - 1
"""The largest id a row can have: ids and feed versions are INTEGER columns, which PostgreSQL keeps
in 32 bits (SQLite in 64); a larger number in a query is an error of the database, not a miss."""

RowId = Annotated[int, Interval(ge=1, le=MAX_ROW_ID)]
"""A row's numeric id (problem record, merge, transfer, person): 1 .. 2**31-1."""

Offset = Annotated[int, Interval(ge=0, le=MAX_ROW_ID)]
"""A keyset cursor over row ids or feed versions (``after_id``, ``since``): 0 .. 2**31-1."""

NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


def refuse_control_characters(value: str) -> str:
    # NUL cannot be stored in PostgreSQL text, and a control character in a URL or a log line is
    # never meant: refused with the field named rather than failing deeper down.
    if _CONTROL_CHARACTER.search(value):
        raise PydanticCustomError("control_character", "must not contain control characters")
    return value


PlainText = Annotated[
    str,
    AfterValidator(refuse_control_characters),
    Field(json_schema_extra={"pattern": NO_CONTROL_CHARACTERS}),
]
"""Text of one line or paragraph, as a person types it: anything but control characters."""
