"""Contract loading and the hardened XML parser: refusals, and error messages that never quote values."""

from __future__ import annotations

import pytest
from lxml import etree

from gateway.adapters.contracts import MAX_XML_BYTES, ContractError, json_contract, parse_xml, xml_contract

ID_NUMBER = "110105201503070016"


def test_parser_refuses_doctype_and_external_entities() -> None:
    external = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    with pytest.raises(ContractError):
        parse_xml(external)


def test_parser_refuses_oversized_documents() -> None:
    with pytest.raises(ContractError, match="exceeds"):
        parse_xml(b"<r>" + b"a" * MAX_XML_BYTES + b"</r>")


def test_parser_refuses_malformed_xml() -> None:
    with pytest.raises(ContractError, match="malformed"):
        parse_xml("<ROWS><ROW>")


def test_xsd_errors_do_not_quote_values() -> None:
    contract = xml_contract("public_security", "conditions-response.xsd")
    rows = etree.fromstring(
        f"<ROWS><ROW no='1'><INPUT><gmsfhm>{ID_NUMBER}</gmsfhm></INPUT><OUTPUT><ITEM>"
        f"<result_xm>{ID_NUMBER}</result_xm></ITEM></OUTPUT></ROW></ROWS>"
    )
    with pytest.raises(ContractError) as raised:
        contract.validate(rows)
    assert ID_NUMBER not in str(raised.value)
    assert "result_xm" in str(raised.value)


def test_json_errors_do_not_quote_values() -> None:
    contract = json_contract("social_security")
    with pytest.raises(ContractError) as raised:
        contract.validate("InsuredQuery", {"id_number": ID_NUMBER + "0", "name": "张三"})
    assert ID_NUMBER not in str(raised.value)
    assert "id_number" in str(raised.value)


def test_openapi_documents_say_what_they_are_modelled_on() -> None:
    for system in ("household", "social_security"):
        assert "Our own contract" in json_contract(system).document["x-modelled-on"]
