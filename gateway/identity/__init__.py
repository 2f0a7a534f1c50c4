"""Identity documents and the normalisation of messy school data into the canonical student record.

Pure: no I/O, no ORM rows; matching, registration and bulk import all build on it. The public
interface is re-exported here; the endpoint (`endpoints.router`) and the batch command
(`commands.normalize`) are thin edges over `normalise_record`."""

from gateway.identity.codes import (
    CITIZEN_ID_TYPES,
    ETHNICITIES,
    Gender,
    IdType,
    ethnicity_name,
    parse_ethnicity,
    parse_gender,
    parse_id_type,
    parse_nationality,
)
from gateway.identity.dates import parse_date
from gateway.identity.documents import DocumentCheck, canonical_number, upgrade_legacy_id, validate_document
from gateway.identity.issues import FieldIssue, InvalidField
from gateway.identity.names import (
    name_matching_key,
    name_pinyin,
    name_pinyin_variants,
    normalise_name,
    split_surname,
)
from gateway.identity.records import RECORD_FIELDS, CanonicalRecord, NormalisedRecord, normalise_record
from gateway.identity.regions import (
    find_region_codes,
    is_abolished_region,
    is_known_region,
    region_full_name,
    region_level,
    region_name,
)

__all__ = [
    "CITIZEN_ID_TYPES",
    "ETHNICITIES",
    "RECORD_FIELDS",
    "CanonicalRecord",
    "DocumentCheck",
    "FieldIssue",
    "Gender",
    "IdType",
    "InvalidField",
    "NormalisedRecord",
    "canonical_number",
    "ethnicity_name",
    "find_region_codes",
    "is_abolished_region",
    "is_known_region",
    "name_matching_key",
    "name_pinyin",
    "name_pinyin_variants",
    "normalise_name",
    "normalise_record",
    "parse_date",
    "parse_ethnicity",
    "parse_gender",
    "parse_id_type",
    "parse_nationality",
    "region_full_name",
    "region_level",
    "region_name",
    "split_surname",
    "upgrade_legacy_id",
    "validate_document",
]
