"""Adapter for the public-security population register (citizen ID verification, SOAP).

Builds the `inConditions` document (name + number, plus gender, ethnicity and birth date for the
multi-field operation), calls the service through the hardened zeep client, validates the `out`
document against the contract and maps the register's answers onto our per-field verdicts: 一致
consistent, 不一致 inconsistent, 此项无记录 no record, and 库中无此号 "not found". The RESPONSE error
envelope becomes `QuotaExhausted`, `RequestRejected` or a technical error.

One call carries up to `MAX_ROWS_PER_CALL` (100) query rows, the limit the contract states
(``rowsPerCall`` in conditions-request.xsd): `verify_many` sends chunks of rows, and maps each
answer row back to its query by its number, so that a row the service could not answer, or
answered out of contract, spoils only itself. Also offers the batch variant (submit a file,
collect by job id) for bulk re-verification.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from gateway.adapters.base import (
    AdapterError,
    ContractViolation,
    FieldVerdict,
    QuotaExhausted,
    RequestRejected,
    Source,
    SourceAnswer,
    TechnicalAdapterError,
    VerificationQuery,
    VerifiedField,
)
from gateway.adapters.contracts import NCIIC_NS, ContractError, parse_xml, wsdl_path, xml_contract
from gateway.adapters.resilience import AdapterLimits, GuardedVerifier, RowResult
from gateway.adapters.settings import AdapterSettings
from gateway.adapters.soap import SoapClient

SUPPORTED_ID_TYPES = frozenset({"resident_id", "household_booklet"})
NO_SUCH_NUMBER = "服务结果:库中无此号，请到户籍所在地进行核实"
MISSING_FIELD = "必录项缺失"
ROW_NOT_ANSWERED = "服务结果:系统繁忙，请稍后重试"
ERR_LICENCE, ERR_CONDITIONS, ERR_QUOTA, ERR_BUSY, ERR_TOO_MANY_ROWS = -10, -20, -30, -40, -60
# Query rows one online call may carry, as agreed with the service (rowsPerCall in the contract).
MAX_ROWS_PER_CALL = 100

_VERDICTS = {
    "一致": FieldVerdict.CONSISTENT,
    "不一致": FieldVerdict.INCONSISTENT,
    "此项无记录": FieldVerdict.NO_RECORD,
}
_FIELDS = {
    "result_gmsfhm": VerifiedField.ID_NUMBER,
    "result_xm": VerifiedField.NAME,
    "result_xb": VerifiedField.GENDER,
    "result_mz": VerifiedField.ETHNICITY,
    "result_csrq": VerifiedField.BIRTH_DATE,
}
_CAPTIONS = {"GMSFHM": "公民身份号码", "XM": "姓名", "XB": "性别", "MZ": "民族", "CSRQ": "出生日期"}


@dataclass(frozen=True)
class BatchStatus:
    """State of a batch job; `results` in submission order once done."""

    job_id: str
    done: bool
    results: tuple[SourceAnswer, ...] = ()


class PublicSecurityVerifier(GuardedVerifier):
    """`IdentityVerifier` backed by the citizen-ID verification service."""

    SOURCE = Source.PUBLIC_SECURITY
    MAX_ROWS_PER_CALL = MAX_ROWS_PER_CALL

    def __init__(
        self,
        settings: AdapterSettings,
        *,
        hmac_key: bytes,
        place_code: str = "100000",
        business_type: str = "学籍核验",
        limits: AdapterLimits | None = None,
    ) -> None:
        self._settings = settings
        self._place_code = place_code
        self._business_type = business_type
        super().__init__(settings, hmac_key=hmac_key, limits=limits)
        self._soap = SoapClient(
            Source.PUBLIC_SECURITY,
            wsdl=wsdl_path("public_security", "nciic.wsdl"),
            binding=f"{{{NCIIC_NS}}}NciicServicesBinding",
            contract=xml_contract("public_security", "nciic.xsd"),
            settings=settings,
        )
        self._request_contract = xml_contract("public_security", "conditions-request.xsd")
        self._reply_contract = xml_contract("public_security", "conditions-response.xsd")

    def supports(self, query: VerificationQuery) -> bool:
        return query.id_type in SUPPORTED_ID_TYPES and bool(query.id_number)

    def _multi(self, query: VerificationQuery) -> bool:
        return bool(query.gender in ("1", "2") or query.ethnicity or query.birth_date)

    def _call_kind(self, query: VerificationQuery) -> object:
        return self._multi(query)

    def _attempt(self, query: VerificationQuery, timeout: float) -> SourceAnswer:
        answer = self._attempt_many([query], timeout)[0]
        if isinstance(answer, AdapterError):
            raise answer
        return answer

    def _attempt_many(self, queries: Sequence[VerificationQuery], timeout: float) -> list[RowResult]:
        multi = self._multi(queries[0])
        try:
            conditions = self._conditions(queries, multi=multi)
        except ContractError as exc:
            raise RequestRejected(self.source, f"conditions do not fit the contract: {exc}") from exc
        out = self._soap.call(
            "nciicCheckMulti" if multi else "nciicCheck",
            timeout,
            inLicense=self._settings.licence.get_secret_value(),
            inConditions=conditions,
        )
        return self._answers(out, len(queries))

    def _refused_rows(self, queries: Sequence[VerificationQuery]) -> dict[int, AdapterError]:
        multi = self._multi(queries[0]) if queries else False
        try:
            self._conditions(queries, multi=multi)
            return {}
        except ContractError:
            pass
        refused: dict[int, AdapterError] = {}
        for index, query in enumerate(queries):
            try:
                self._conditions([query], multi=multi)
            except ContractError as exc:
                refused[index] = RequestRejected(self.source, f"row does not fit the contract: {exc}")
        return refused

    def _answers(self, out: object, count: int) -> list[RowResult]:
        """One answer (or row error) per query row, matched by the rows' numbers. A reply broken only
        inside some rows spoils those rows; one broken anywhere else spoils the call."""
        if not isinstance(out, str):
            raise ContractViolation(self.source, "reply carries no out document")
        try:
            document = parse_xml(out)
        except ContractError as exc:
            raise ContractViolation(self.source, f"out document: {exc}") from exc
        try:
            self._reply_contract.validate(document)
            broken: ContractError | None = None
        except ContractError as exc:
            broken = exc
        if document.tag != "ROWS":
            if broken is None and document.tag == "RESPONSE":
                self._raise_for_envelope(int(document.get("errorcode", "0")))
            raise ContractViolation(self.source, f"out document is {etree.QName(document).localname}")
        answers: dict[int, RowResult] = {}
        spoilt = 0
        for row in document.findall("ROW"):
            number = row.get("no", "")
            index = int(number) - 1 if number.isdigit() else -1
            if broken is not None and (fault := self._row_fault(row)) is not None:
                spoilt += 1
                if 0 <= index < count:
                    answers[index] = fault
                continue
            if not 0 <= index < count or index in answers:
                raise ContractViolation(self.source, f"answer row numbered {number!r} of {count}")
            answers[index] = self._row_answer(row)
        if broken is not None and spoilt == 0:
            raise ContractViolation(self.source, f"out document: {broken}")
        missing = ContractViolation(self.source, "no answer row for the query")
        return [answers.get(index, missing) for index in range(count)]

    def _row_fault(self, row: etree._Element) -> ContractViolation | None:
        """The row's own violation of the contract, checked alone; None when the row is sound."""
        alone = etree.Element("ROWS")
        alone.append(copy.deepcopy(row))
        try:
            self._reply_contract.validate(alone)
        except ContractError as exc:
            return ContractViolation(self.source, f"answer row: {exc}")
        return None

    def _conditions(self, queries: Sequence[VerificationQuery], *, multi: bool) -> str:
        columns = ["GMSFHM", "XM", *(["XB", "MZ", "CSRQ"] if multi else [])]
        rows = etree.Element("ROWS")
        etree.SubElement(etree.SubElement(rows, "INFO"), "SBM").text = self._settings.subscriber
        captions = etree.SubElement(rows, "ROW")
        for column in columns:
            etree.SubElement(captions, column).text = _CAPTIONS[column]
        for query in queries:
            row = etree.SubElement(rows, "ROW", FSD=self._place_code, YWLX=self._business_type)
            values = {
                "GMSFHM": query.id_number,
                "XM": query.name,
                "XB": query.gender if query.gender in ("1", "2") else None,
                "MZ": query.ethnicity,
                "CSRQ": query.birth_date.strftime("%Y%m%d") if query.birth_date else None,
            }
            for column in columns:
                if values[column]:
                    etree.SubElement(row, column).text = values[column]
        self._request_contract.validate(rows)
        return etree.tostring(rows, encoding="unicode")

    def _rows(self, out: object, *, expected_root: str) -> etree._Element:
        if not isinstance(out, str):
            raise ContractViolation(self.source, "reply carries no out document")
        try:
            document = parse_xml(out)
            self._reply_contract.validate(document)
        except ContractError as exc:
            raise ContractViolation(self.source, f"out document: {exc}") from exc
        if document.tag == "RESPONSE":
            self._raise_for_envelope(int(document.get("errorcode", "0")))
        if document.tag != expected_root:
            raise ContractViolation(
                self.source, f"out document is {etree.QName(document).localname}, expected {expected_root}"
            )
        return document

    def _raise_for_envelope(self, code: int) -> None:
        if code == ERR_QUOTA:
            raise QuotaExhausted(self.source, "daily quota exhausted (RESPONSE envelope)")
        if code == ERR_BUSY:
            raise TechnicalAdapterError(self.source, "service busy (RESPONSE envelope)")
        if code == ERR_TOO_MANY_ROWS:
            raise RequestRejected(self.source, "more query rows than one call may carry")
        raise RequestRejected(self.source, f"request rejected, errorcode {code}")

    def _row_answer(self, row: etree._Element) -> RowResult:
        """One answer row (already valid) in our terms, or the row's own error."""
        fields: dict[VerifiedField, FieldVerdict] = {}
        found = True
        for item in row.findall("OUTPUT/ITEM"):
            message = item.findtext("errormesage")
            if message == NO_SUCH_NUMBER:
                found = False
                fields[VerifiedField.ID_NUMBER] = FieldVerdict.NO_RECORD
            elif message == MISSING_FIELD:
                return RequestRejected(
                    self.source, f"required field missing: {item.findtext('errormesagecol')}"
                )
            elif message == ROW_NOT_ANSWERED:
                return TechnicalAdapterError(self.source, "row not answered this time (service busy)")
            else:
                element = item[0]
                fields[_FIELDS[etree.QName(element).localname]] = _VERDICTS[element.text or ""]
        return SourceAnswer(source=self.source, found=found, fields=fields)

    def _results(self, rows: etree._Element) -> list[SourceAnswer]:
        results = []
        for row in rows.findall("ROW"):
            answer = self._row_answer(row)
            if isinstance(answer, AdapterError):
                raise answer
            results.append(answer)
        return results

    def submit_batch(self, queries: Sequence[VerificationQuery], *, timeout: float | None = None) -> str:
        """Submit a batch file of queries; returns the job id to collect with `collect_batch`."""
        conditions = self._conditions(queries, multi=True)
        out = self._soap.call(
            "nciicBatchSubmit",
            timeout or self._settings.read_timeout,
            inLicense=self._settings.licence.get_secret_value(),
            inFileName="conditions.xml",
            inFile=conditions.encode("utf-8"),  # zeep base64-encodes xs:base64Binary itself
        )
        batch = self._rows(out, expected_root="BATCH")
        return str(batch.get("jobid", ""))

    def collect_batch(self, job_id: str, *, timeout: float | None = None) -> BatchStatus:
        """Poll a batch job; results once the register has done it."""
        out = self._soap.call(
            "nciicBatchResult",
            timeout or self._settings.read_timeout,
            inLicense=self._settings.licence.get_secret_value(),
            inJobId=job_id,
        )
        batch = self._rows(out, expected_root="BATCH")
        rows = batch.find("ROWS")
        if batch.get("status") != "done" or rows is None:
            return BatchStatus(job_id=job_id, done=False)
        return BatchStatus(job_id=job_id, done=True, results=tuple(self._results(rows)))

    def close(self) -> None:
        self._soap.close()
