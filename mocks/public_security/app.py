"""Mock of the public-security citizen-ID verification service (gateway/contracts/public_security).

Speaks SOAP 1.1 for real: `nciicCheck` (name + number), `nciicCheckMulti` (adds gender, ethnicity
and birth date) and the batch pair `nciicBatchSubmit` / `nciicBatchResult`. The licence and the
conditions document are checked as the real service does, answering whole-request failures with the
RESPONSE errorcode envelope inside `out` (an online query of more rows than the contract's
``rowsPerCall`` among them), and per-row problems with `errormesage` items.
"""

from __future__ import annotations

import base64
import binascii
import threading
import uuid

from fastapi import FastAPI, Request, Response
from lxml import etree

from gateway.adapters.contracts import NCIIC_NS, ContractError, declared_limit, parse_xml, xml_contract
from mocks.faults import Decision, FaultInjector, FaultKind, FaultPlan, new_mock_app
from mocks.population import Population
from mocks.wire import (
    SOAP_CONTENT_TYPE,
    SoapFaultError,
    malformed_xml,
    read_soap_operation,
    soap_envelope,
    soap_fault_response,
    transport_fault,
)

PATH = "/nciic/services/NciicServices"
CONSISTENT, INCONSISTENT, NO_RECORD = "一致", "不一致", "此项无记录"
NO_SUCH_NUMBER = "服务结果:库中无此号，请到户籍所在地进行核实"
MISSING_FIELD = "必录项缺失"
ROW_NOT_ANSWERED = "服务结果:系统繁忙，请稍后重试"
ERR_LICENCE, ERR_CONDITIONS, ERR_QUOTA, ERR_UNKNOWN_JOB, ERR_TOO_MANY_ROWS = -10, -20, -30, -50, -60
ERROR_MESSAGES = {
    ERR_LICENCE: "授权文件错误",
    ERR_CONDITIONS: "查询条件格式错误",
    ERR_QUOTA: "超过当日查询限额",
    ERR_UNKNOWN_JOB: "任务不存在",
    ERR_TOO_MANY_ROWS: "查询条件超过最大行数",
}


def _q(name: str) -> str:
    return f"{{{NCIIC_NS}}}{name}"


def error_envelope(code: int) -> etree._Element:
    """The whole-request failure envelope."""
    response = etree.Element("RESPONSE", errorcode=str(code), code="0", countrows="1")
    row = etree.SubElement(etree.SubElement(response, "ROWS"), "ROW")
    etree.SubElement(row, "ErrorCode").text = str(code)
    etree.SubElement(row, "ErrorMsg").text = ERROR_MESSAGES[code]
    return response


def spoil_rows(rows: etree._Element, decision: Decision) -> None:
    """Apply a row fault to an answer document: some rows answered "busy", or one row broken."""
    answers = rows.findall("ROW")
    for index in decision.failed_rows(len(answers)):
        output = answers[index].find("OUTPUT")
        assert output is not None
        for item in list(output):
            output.remove(item)
        _item(output, "errormesage", ROW_NOT_ANSWERED)
    broken = decision.malformed_row(len(answers))
    if broken is not None:
        target = answers[broken].find(".//result_xm")
        if target is not None:
            target.text = "可能一致"  # a verdict outside the enumeration
        else:
            etree.SubElement(answers[broken], "UNEXPECTED").text = "?"


def _item(output: etree._Element, tag: str, value: str, column: str | None = None) -> None:
    item = etree.SubElement(output, "ITEM")
    etree.SubElement(item, tag).text = value
    if column is not None:
        etree.SubElement(item, "errormesagecol").text = column


def answer_rows(population: Population, conditions: etree._Element, *, multi: bool) -> etree._Element:
    """Per-row answers to a validated conditions document (the caption row skipped)."""
    rows = etree.Element("ROWS")
    for number, row in enumerate(conditions.findall("ROW")[1:], start=1):
        values = {etree.QName(child).localname.lower(): (child.text or "").strip() for child in row}
        answer = etree.SubElement(rows, "ROW", no=str(number))
        inputs = etree.SubElement(answer, "INPUT")
        for tag, value in values.items():
            etree.SubElement(inputs, tag).text = value
        output = etree.SubElement(answer, "OUTPUT")
        missing = next((column for column in ("gmsfhm", "xm") if not values.get(column)), None)
        if missing is not None:
            _item(output, "errormesage", MISSING_FIELD, missing)
            continue
        person = population.by_id_number(values["gmsfhm"].upper())
        if person is None:
            _item(output, "errormesage", NO_SUCH_NUMBER)
            continue
        _item(output, "result_gmsfhm", CONSISTENT)
        _item(output, "result_xm", CONSISTENT if values["xm"] == person.name else INCONSISTENT)
        if not multi:
            continue
        known = {
            "xb": person.gender if person.gender in ("1", "2") else None,
            "mz": person.ethnicity,
            "csrq": person.birth_date.strftime("%Y%m%d"),
        }
        for column in ("xb", "mz", "csrq"):
            if column not in values:
                continue
            recorded = known[column]
            verdict = (
                NO_RECORD if recorded is None else CONSISTENT if values[column] == recorded else INCONSISTENT
            )
            _item(output, f"result_{column}", verdict)
    return rows


class _Jobs:
    """Batch jobs: done on submission, reported `running` at the first poll, `done` after."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, etree._Element] = {}
        self._polled: set[str] = set()

    def submit(self, rows: etree._Element) -> str:
        job_id = uuid.uuid4().hex
        with self._lock:
            self._rows[job_id] = rows
        return job_id

    def poll(self, job_id: str) -> tuple[str, etree._Element | None] | None:
        with self._lock:
            rows = self._rows.get(job_id)
            if rows is None:
                return None
            if job_id not in self._polled:
                self._polled.add(job_id)
                return "running", None
            return "done", rows


def create_app(
    population: Population,
    faults: FaultPlan | FaultInjector | None = None,
    *,
    licences: frozenset[str] | None = None,
    admin_token: str | None = None,
) -> FastAPI:
    """The mock service: `POST /nciic/services/NciicServices`, plus the `/_admin` fault endpoints."""
    mock = new_mock_app("Mock public-security citizen-ID verification", faults, licences, admin_token)
    app, injector, accepted = mock.app, mock.injector, mock.licences
    messages = xml_contract("public_security", "nciic.xsd")
    request_contract = xml_contract("public_security", "conditions-request.xsd")
    reply_contract = xml_contract("public_security", "conditions-response.xsd")
    jobs = _Jobs()
    rows_per_call = declared_limit("public_security", "conditions-request.xsd", "rowsPerCall")

    def conditions_of(text: str) -> etree._Element | None:
        try:
            conditions = parse_xml(text)
            request_contract.validate(conditions)
        except ContractError:
            return None
        return conditions

    def answer(operation: etree._Element, quota_exhausted: bool) -> etree._Element:
        name = etree.QName(operation).localname
        licence = operation.findtext(_q("inLicense")) or ""
        if licence not in accepted:
            return error_envelope(ERR_LICENCE)
        if quota_exhausted:
            return error_envelope(ERR_QUOTA)
        if name in ("nciicCheck", "nciicCheckMulti"):
            conditions = conditions_of(operation.findtext(_q("inConditions")) or "")
            if conditions is None:
                return error_envelope(ERR_CONDITIONS)
            if len(conditions.findall("ROW")) - 1 > rows_per_call:
                return error_envelope(ERR_TOO_MANY_ROWS)
            return answer_rows(population, conditions, multi=name == "nciicCheckMulti")
        if name == "nciicBatchSubmit":
            try:
                text = base64.b64decode(operation.findtext(_q("inFile")) or "", validate=True)
            except binascii.Error:
                return error_envelope(ERR_CONDITIONS)
            conditions = conditions_of(text.decode("utf-8", errors="replace"))
            if conditions is None:
                return error_envelope(ERR_CONDITIONS)
            job_id = jobs.submit(answer_rows(population, conditions, multi=True))
            return etree.Element("BATCH", jobid=job_id, status="accepted")
        polled = jobs.poll(operation.findtext(_q("inJobId")) or "")
        if polled is None:
            return error_envelope(ERR_UNKNOWN_JOB)
        status, rows = polled
        batch = etree.Element("BATCH", jobid=operation.findtext(_q("inJobId")) or "", status=status)
        if rows is not None:
            batch.append(rows)
        return batch

    @app.post(PATH)
    async def soap_endpoint(request: Request) -> Response:
        decision = injector.decide()
        early = await transport_fault(decision, injector.plan, rest=False)
        if early is not None:
            return early
        try:
            operation = await read_soap_operation(request, messages)
        except SoapFaultError as exc:
            return soap_fault_response(exc.code, exc.message)
        if decision.fault is FaultKind.SERVER_FAULT:
            return soap_fault_response("Server", "服务器内部错误")
        quota = decision.quota_exhausted or decision.fault is FaultKind.QUOTA_EXHAUSTED
        out = answer(operation, quota)
        reply_contract.validate(out)
        if out.tag == "ROWS":
            spoil_rows(out, decision)
        if decision.fault is FaultKind.SCHEMA_VIOLATION and decision.variant % 2 == 0:
            # Break the inner document: a verdict outside the enumeration, or an unknown element.
            target = out.find(".//result_xm")
            if target is not None:
                target.text = "可能一致"
            else:
                etree.SubElement(out, "UNEXPECTED").text = "?"
        response = etree.Element(_q(etree.QName(operation).localname + "Response"), nsmap={"tns": NCIIC_NS})
        etree.SubElement(response, _q("out")).text = etree.tostring(out, encoding="unicode")
        if decision.fault is not FaultKind.SCHEMA_VIOLATION:
            messages.validate(response)
        elif decision.variant % 2 == 1:
            etree.SubElement(response, _q("unexpected")).text = "?"
        reply = soap_envelope(response)
        if decision.fault is FaultKind.MALFORMED_REPLY:
            return malformed_xml(reply)
        return Response(reply, 200, media_type=SOAP_CONTENT_TYPE)

    return app
