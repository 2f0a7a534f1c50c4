"""Loading of the external-system contracts (`gateway/contracts/`) and validation of messages against them.

The contracts are the single source of truth for the wire formats: the adapters and the mock servers
both load them from here, so neither can drift from the other. They are package data of `gateway`
(WSDL, XSD and OpenAPI files, no Python), so a checkout and an installed wheel find them at the same
place beside this package, and the wheel carries them. XML is parsed only through a hardened
lxml parser (no entity resolution, no network, no DTD, bounded size); JSON bodies are validated against
the schemas of the OpenAPI documents with `jsonschema`, resolving `$ref`s inside the document itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from lxml import etree
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

# gateway/adapters/contracts.py -> gateway/contracts/<system>/<file>, in a checkout and in site-packages.
CONTRACTS_DIR = Path(__file__).resolve().parents[1] / "contracts"
MAX_XML_BYTES = 2 * 1024 * 1024

SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XS_NS = "http://www.w3.org/2001/XMLSchema"
NCIIC_NS = "urn:gateway:contracts:public-security:nciic:1"
EXIT_ENTRY_NS = "urn:gateway:contracts:exit-entry:1"


class ContractError(ValueError):
    """A message does not parse or does not conform to its contract."""


def hardened_parser() -> etree.XMLParser:
    """Return an lxml parser safe against entity expansion, external fetches and huge documents."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(data: bytes | str) -> etree._Element:
    """Parse untrusted XML with the hardened parser; raise `ContractError` if it is not well formed."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_XML_BYTES:
        raise ContractError(f"XML document of {len(raw)} bytes exceeds the {MAX_XML_BYTES} byte limit")
    try:
        root = etree.fromstring(raw, parser=hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise ContractError(f"malformed XML: {exc}") from exc
    # A DOCTYPE is never legitimate in these messages; refusing it closes the entity door entirely.
    if root.getroottree().docinfo.doctype:
        raise ContractError("XML with a DOCTYPE is refused")
    return root


@dataclass(frozen=True)
class XmlContract:
    """One XSD, able to validate an element (not only a whole document) against its global elements."""

    name: str
    schema: etree.XMLSchema

    def validate(self, element: etree._Element) -> None:
        """Raise `ContractError` naming the first violation when `element` breaks the schema."""
        document = etree.ElementTree(etree.fromstring(etree.tostring(element), parser=hardened_parser()))
        if not self.schema.validate(document):
            error = self.schema.error_log.last_error
            # The element path and error type only: lxml's message quotes the offending value,
            # which may be an ID number, and these errors end up in logs.
            where = f"{error.path}: {error.type_name}" if error else "invalid"
            raise ContractError(f"{self.name} at {where}")


@cache
def xml_contract(system: str, filename: str) -> XmlContract:
    """Load (once) the XSD `gateway/contracts/<system>/<filename>`."""
    path = CONTRACTS_DIR / system / filename
    document = etree.parse(str(path), parser=hardened_parser())
    return XmlContract(name=f"{system}/{filename}", schema=etree.XMLSchema(document))


@cache
def declared_limit(system: str, filename: str, name: str) -> int:
    """A limit an XSD states in its ``xs:appinfo`` (``<limit name=".." value=".."/>``), such as the
    rows one call may carry; `ContractError` when the schema states none by that name."""
    document = etree.parse(str(CONTRACTS_DIR / system / filename), parser=hardened_parser())
    for limit in document.iterfind(f".//{{{XS_NS}}}appinfo/limit"):
        if limit.get("name") == name:
            return int(limit.get("value", ""))
    raise ContractError(f"{system}/{filename} states no limit {name!r}")


def wsdl_path(system: str, filename: str) -> Path:
    """Path of a WSDL under `gateway/contracts/`, for zeep to load from disk (imports beside it)."""
    return CONTRACTS_DIR / system / filename


@dataclass(frozen=True)
class JsonContract:
    """The component schemas of one OpenAPI document, each usable as a JSON-schema validator."""

    name: str
    document: dict[str, Any]
    registry: Registry[Any]

    def validate(self, schema_name: str, instance: object) -> None:
        """Raise `ContractError` when `instance` breaks `#/components/schemas/<schema_name>`."""
        validator = Draft202012Validator(
            {"$ref": f"urn:contract:{self.name}#/components/schemas/{schema_name}"},
            registry=self.registry,
            format_checker=FormatChecker(),
        )
        error = next(iter(validator.iter_errors(instance)), None)
        if error is not None:
            where = "/".join(str(part) for part in error.absolute_path) or "(body)"
            # The keyword only: jsonschema's message quotes the offending value (maybe an ID number).
            raise ContractError(f"{self.name} {schema_name} at {where}: violates {error.validator!r}")


@cache
def json_contract(system: str, filename: str = "openapi.json") -> JsonContract:
    """Load (once) the OpenAPI document `gateway/contracts/<system>/<filename>`."""
    document: dict[str, Any] = json.loads((CONTRACTS_DIR / system / filename).read_text("utf-8"))
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(f"urn:contract:{system}", resource)
    return JsonContract(name=system, document=document, registry=registry)
