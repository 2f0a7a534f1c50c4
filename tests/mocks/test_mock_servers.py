"""The mock government systems speak their contracts for real, over sockets, and misbehave on demand."""

from __future__ import annotations

import base64
from datetime import date
from xml.sax.saxutils import escape

import httpx
import pytest
from lxml import etree

from gateway.adapters.contracts import (
    EXIT_ENTRY_NS,
    NCIIC_NS,
    SOAP_ENV_NS,
    ContractError,
    json_contract,
    parse_xml,
    xml_contract,
)
from mocks.faults import FaultKind, FaultPlan
from mocks.population import Person, Population, derived_guardian_id_number, write_csv
from mocks.server import RunningMocks
from tests.fixtures.mocks import TRAVELLERS, UNDOCUMENTED

LICENCE = {"X-Licence": "demo-licence"}
REPLY_CONTRACT = xml_contract("public_security", "conditions-response.xsd")


def admin(mocks: RunningMocks) -> dict[str, str]:
    return {"Authorization": f"Bearer {mocks.admin_token}"}


def citizens(population: Population) -> list[Person]:
    return [p for p in population if p.id_type == "resident_id" and p.guardian_name]


def soap(operation: str, inner: str, ns: str = NCIIC_NS) -> bytes:
    return (
        f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Body><n:{operation} xmlns:n="{ns}">{inner}'
        f"</n:{operation}></soap:Body></soap:Envelope>"
    ).encode()


def conditions(*rows: str, captions: str = "<GMSFHM>公民身份号码</GMSFHM><XM>姓名</XM>") -> str:
    body = "".join(f'<ROW FSD="110000" YWLX="学籍核验">{row}</ROW>' for row in rows)
    return f"<ROWS><INFO><SBM>test</SBM></INFO><ROW>{captions}</ROW>{body}</ROWS>"


def nciic(
    mocks: RunningMocks, conditions_xml: str, operation: str = "nciicCheck", licence: str = "demo-licence"
):
    inner = f"<n:inLicense>{licence}</n:inLicense><n:inConditions>{escape(conditions_xml)}</n:inConditions>"
    response = httpx.post(mocks.endpoints["public_security"], content=soap(operation, inner))
    return response


def out_document(response: httpx.Response) -> etree._Element:
    assert response.status_code == 200, response.text
    envelope = parse_xml(response.content)
    out = envelope.findtext(f".//{{{NCIIC_NS}}}out")
    assert out is not None
    document = parse_xml(out)
    REPLY_CONTRACT.validate(document)
    return document


def items(document: etree._Element, row: int = 0) -> dict[str, str]:
    found = {}
    for item in document.findall("ROW")[row].findall("OUTPUT/ITEM"):
        for child in item:
            found[child.tag] = child.text or ""
    return found


def test_nciic_check_answers_per_field(mocks: RunningMocks, population: Population) -> None:
    person = citizens(population)[0]
    other = citizens(population)[1]
    document = out_document(
        nciic(
            mocks,
            conditions(
                f"<GMSFHM>{person.id_number}</GMSFHM><XM>{person.name}</XM>",
                f"<GMSFHM>{person.id_number}</GMSFHM><XM>{other.name}</XM>",
            ),
        )
    )
    assert items(document, 0) == {"result_gmsfhm": "一致", "result_xm": "一致"}
    assert items(document, 1) == {"result_gmsfhm": "一致", "result_xm": "不一致"}
    assert [row.get("no") for row in document.findall("ROW")] == ["1", "2"]


def test_nciic_no_such_number_and_missing_field(mocks: RunningMocks) -> None:
    unknown = "11010520100101001" + "1"
    document = out_document(
        nciic(mocks, conditions(f"<GMSFHM>{unknown}</GMSFHM><XM>张三</XM>", f"<GMSFHM>{unknown}</GMSFHM>"))
    )
    assert items(document, 0) == {"errormesage": "服务结果:库中无此号，请到户籍所在地进行核实"}
    assert items(document, 1) == {"errormesage": "必录项缺失", "errormesagecol": "xm"}


def test_nciic_multi_field_variant(mocks: RunningMocks, population: Population) -> None:
    person = citizens(population)[2]
    wrong_gender = "1" if person.gender == "2" else "2"
    row = (
        f"<GMSFHM>{person.id_number}</GMSFHM><XM>{person.name}</XM><XB>{wrong_gender}</XB>"
        f"<MZ>{person.ethnicity}</MZ><CSRQ>{person.birth_date:%Y%m%d}</CSRQ>"
    )
    document = out_document(nciic(mocks, conditions(row), operation="nciicCheckMulti"))
    assert items(document) == {
        "result_gmsfhm": "一致",
        "result_xm": "一致",
        "result_xb": "不一致",
        "result_mz": "一致",
        "result_csrq": "一致",
    }


@pytest.mark.parametrize(
    ("licence", "conditions_xml", "errorcode"),
    [
        ("not-ours", conditions("<GMSFHM>1</GMSFHM><XM>x</XM>"), "-10"),
        ("demo-licence", "<ROWS><ROW/></ROWS>", "-20"),
        ("demo-licence", "<ROWS", "-20"),
    ],
)
def test_nciic_whole_request_failures_use_the_response_envelope(
    mocks: RunningMocks, licence: str, conditions_xml: str, errorcode: str
) -> None:
    document = out_document(nciic(mocks, conditions_xml, licence=licence))
    assert document.tag == "RESPONSE"
    assert document.get("errorcode") == errorcode
    assert document.findtext("ROWS/ROW/ErrorCode") == errorcode


def test_nciic_quota_exhausted_envelope(mocks: RunningMocks, population: Population) -> None:
    person = citizens(population)[0]
    httpx.post(
        f"{mocks.base_urls['public_security']}/_admin/faults", json={"daily_quota": 1}, headers=admin(mocks)
    ).raise_for_status()
    query = conditions(f"<GMSFHM>{person.id_number}</GMSFHM><XM>{person.name}</XM>")
    assert out_document(nciic(mocks, query)).tag == "ROWS"
    exhausted = out_document(nciic(mocks, query))
    assert (exhausted.tag, exhausted.get("errorcode")) == ("RESPONSE", "-30")


def test_soap_request_breaking_the_contract_is_a_client_fault(mocks: RunningMocks) -> None:
    response = httpx.post(
        mocks.endpoints["public_security"], content=soap("nciicCheck", "<n:wrong>1</n:wrong>")
    )
    assert response.status_code == 500
    assert parse_xml(response.content).findtext(f".//{{{SOAP_ENV_NS}}}Fault/faultcode") == "soap:Client"


def test_soap_parser_refuses_entities(mocks: RunningMocks) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Body>&lol2;</soap:Body></soap:Envelope>'
    )
    response = httpx.post(mocks.endpoints["public_security"], content=bomb.encode())
    assert response.status_code == 500
    assert b"lollollol" not in response.content
    with pytest.raises(ContractError):
        parse_xml(bomb)


def test_nciic_batch_submit_then_collect(mocks: RunningMocks, population: Population) -> None:
    person = citizens(population)[3]
    file = base64.b64encode(conditions(f"<GMSFHM>{person.id_number}</GMSFHM><XM>{person.name}</XM>").encode())
    inner = (
        "<n:inLicense>demo-licence</n:inLicense><n:inFileName>a.xml</n:inFileName>"
        f"<n:inFile>{file.decode()}</n:inFile>"
    )
    accepted = out_document(
        httpx.post(mocks.endpoints["public_security"], content=soap("nciicBatchSubmit", inner))
    )
    assert accepted.tag == "BATCH" and accepted.get("status") == "accepted"
    poll = soap(
        "nciicBatchResult",
        f"<n:inLicense>demo-licence</n:inLicense><n:inJobId>{accepted.get('jobid')}</n:inJobId>",
    )
    first = out_document(httpx.post(mocks.endpoints["public_security"], content=poll))
    second = out_document(httpx.post(mocks.endpoints["public_security"], content=poll))
    assert first.get("status") == "running"
    assert second.get("status") == "done"
    assert [item.findtext("*") for item in second.findall("ROWS/ROW/OUTPUT/ITEM")][:2] == ["一致", "一致"]


def test_exit_entry_verifies_documents(mocks: RunningMocks) -> None:
    traveller = TRAVELLERS[0]
    contract = xml_contract("exit_entry", "exit_entry.xsd")

    def verify(number: str, name: str) -> etree._Element:
        inner = (
            f"<n:subscriber>test</n:subscriber><n:licence>demo-licence</n:licence>"
            f"<n:documentType>{traveller.id_type}</n:documentType><n:documentNumber>{number}</n:documentNumber>"
            f"<n:name>{name}</n:name><n:birthDate>{traveller.birth_date.isoformat()}</n:birthDate>"
        )
        response = httpx.post(
            mocks.endpoints["exit_entry"], content=soap("verifyDocument", inner, EXIT_ENTRY_NS)
        )
        assert response.status_code == 200
        body = parse_xml(response.content).find(f"{{{SOAP_ENV_NS}}}Body")[0]
        contract.validate(body)
        return body

    found = verify(traveller.id_number or "", traveller.name)
    assert found.findtext(f"{{{EXIT_ENTRY_NS}}}nameResult") == "consistent"
    assert found.findtext(f"{{{EXIT_ENTRY_NS}}}nationality") == "KOR"
    assert (
        verify(traveller.id_number or "", "LEE MINA").findtext(f"{{{EXIT_ENTRY_NS}}}nameResult")
        == "inconsistent"
    )
    assert verify("X0000000", traveller.name).findtext(f"{{{EXIT_ENTRY_NS}}}found") == "false"


def test_household_finds_child_without_document_through_guardian(mocks: RunningMocks) -> None:
    url = f"{mocks.base_urls['household']}/v1/households/lookup"
    body = {
        "guardian_id_number": UNDOCUMENTED.guardian_id_number,
        "child_name": UNDOCUMENTED.name,
        "child_birth_date": UNDOCUMENTED.birth_date.isoformat(),
    }
    response = httpx.post(url, json=body, headers=LICENCE)
    assert response.status_code == 200
    reply = response.json()
    json_contract("household").validate("HouseholdLookupResult", reply)
    child = reply["members"][reply["matched_member"]]
    assert (child["name"], child["holds_id_number"], reply["region_code"]) == ("李小雨", False, "410102")
    assert any(m["name"] == "李建国" and m["relation"] == "head" for m in reply["members"])

    wrong_date = httpx.post(url, json={**body, "child_birth_date": "2019-02-15"}, headers=LICENCE)
    assert wrong_date.status_code == 404
    assert wrong_date.json()["code"] == "not_found"


def test_household_uses_derived_guardian_number_when_file_has_none(
    mocks: RunningMocks, population: Population
) -> None:
    child = next(p for p in population if p.id_type == "none" and p.guardian_id_number is None)
    body = {
        "guardian_id_number": derived_guardian_id_number(child),
        "child_name": child.name,
        "child_birth_date": child.birth_date.isoformat(),
    }
    response = httpx.post(f"{mocks.base_urls['household']}/v1/households/lookup", json=body, headers=LICENCE)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("system", "path", "body"),
    [
        ("household", "/v1/households/lookup", {"member_id_number": "123"}),
        ("household", "/v1/households/lookup", {"child_name": "张三"}),
        ("social_security", "/v1/insured/verify", {"id_number": "110105201001010011"}),
    ],
)
def test_rest_requests_breaking_the_contract_are_rejected(
    mocks: RunningMocks, system: str, path: str, body: dict[str, str]
) -> None:
    response = httpx.post(f"{mocks.base_urls[system]}{path}", json=body, headers=LICENCE)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"


def test_rest_requires_a_licence(mocks: RunningMocks, population: Population) -> None:
    person = citizens(population)[0]
    body = {"id_number": person.id_number, "name": person.name}
    response = httpx.post(f"{mocks.base_urls['social_security']}/v1/insured/verify", json=body)
    assert response.status_code == 401


def test_social_security_corroborates(mocks: RunningMocks, population: Population) -> None:
    person = citizens(population)[4]
    url = f"{mocks.base_urls['social_security']}/v1/insured/verify"
    body = {"id_number": person.id_number, "name": person.name, "birth_date": "2000-01-01"}
    reply = httpx.post(url, json=body, headers=LICENCE).json()
    json_contract("social_security").validate("InsuredAnswer", reply)
    assert (reply["enrolled"], reply["name_result"], reply["birth_date_result"]) == (
        True,
        "consistent",
        "inconsistent",
    )
    assert httpx.post(url, json={**body, "id_number": "11010520100101001" + "1"}, headers=LICENCE).json() == {
        "enrolled": False
    }


def test_admin_endpoint_injects_faults_and_counts(mocks: RunningMocks, population: Population) -> None:
    base = mocks.base_urls["social_security"]
    plan = {"error_rate": 1.0, "error_kinds": ["http_429"], "retry_after_seconds": 7}
    assert httpx.post(f"{base}/_admin/faults", json=plan, headers=admin(mocks)).json()["error_kinds"] == [
        "http_429"
    ]
    person = citizens(population)[0]
    response = httpx.post(
        f"{base}/v1/insured/verify",
        json={"id_number": person.id_number, "name": person.name},
        headers=LICENCE,
    )
    assert (response.status_code, response.headers["Retry-After"]) == (429, "7")
    assert httpx.get(f"{base}/_admin/stats", headers=admin(mocks)).json() == {
        "requests": 1,
        "fault:http_429": 1,
    }


@pytest.mark.parametrize("name", ["public_security", "exit_entry", "household", "social_security"])
def test_admin_endpoints_need_the_admin_token(mocks: RunningMocks, name: str) -> None:
    base = mocks.base_urls[name]
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": mocks.admin_token}):
        assert httpx.post(f"{base}/_admin/faults", json={"down": True}, headers=headers).status_code == 401
        assert httpx.get(f"{base}/_admin/faults", headers=headers).status_code == 401
        assert httpx.get(f"{base}/_admin/stats", headers=headers).status_code == 401
    assert not mocks.injectors[name].plan.down  # nothing was changed
    assert httpx.get(f"{base}/_admin/faults", headers=admin(mocks)).json()["down"] is False


@pytest.mark.parametrize("kind", ["schema_violation", "malformed_reply"])
def test_broken_replies_break_the_contract(mocks: RunningMocks, population: Population, kind: str) -> None:
    person = citizens(population)[0]
    query = conditions(f"<GMSFHM>{person.id_number}</GMSFHM><XM>{person.name}</XM>")
    for seed in range(4):  # both variants of a schema violation
        mocks.injectors["public_security"].set_plan(
            FaultPlan(seed=seed, error_rate=1.0, error_kinds=[FaultKind(kind)])
        )
        response = nciic(mocks, query)
        assert response.status_code == 200
        with pytest.raises(ContractError):
            envelope = parse_xml(response.content)
            body = envelope.find(f"{{{SOAP_ENV_NS}}}Body")
            xml_contract("public_security", "nciic.xsd").validate(body[0])
            REPLY_CONTRACT.validate(parse_xml(body[0].findtext(f"{{{NCIIC_NS}}}out") or ""))


def test_down_mock_answers_503(mocks: RunningMocks) -> None:
    httpx.post(
        f"{mocks.base_urls['exit_entry']}/_admin/faults", json={"down": True}, headers=admin(mocks)
    ).raise_for_status()
    response = httpx.post(mocks.endpoints["exit_entry"], content=b"<x/>")
    assert response.status_code == 503
    assert "Retry-After" in response.headers


def test_population_file_round_trip(tmp_path, population: Population) -> None:
    path = tmp_path / "population.csv"
    write_csv([UNDOCUMENTED, *citizens(population)[:5]], path)
    loaded = Population.from_csv(path)
    assert len(loaded) == 6
    assert loaded.child_in_household("410102198503070017", "李小雨", date(2019, 2, 14)) is not None
    first = citizens(population)[0]
    assert loaded.by_id_number(first.id_number or "") == first
