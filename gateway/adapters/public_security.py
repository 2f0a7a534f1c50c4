"""Adapter for the public-security population register (citizen ID verification, SOAP).

Builds the `inConditions` document (name + number, plus gender, ethnicity and birth date for the
multi-field operation), calls the service through the hardened zeep client, validates the `out`
document against the contract and maps the register's answers onto our per-field verdicts: 一致
consistent, 不一致 inconsistent, 此项无记录 no record, and 库中无此号 "not found". The RESPONSE error
envelope becomes `QuotaExhausted`, `RequestRejected` or a technical error. Also offers the batch
variant (submit a file, collect by job id) for bulk re-verification.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from gateway.adapters.base import (
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
from gateway.adapters.resilience import AdapterLimits, GuardedVerifier
from gateway.adapters.settings import AdapterSettings
from gateway.adapters.soap import SoapClient

SUPPORTED_ID_TYPES = frozenset({"resident_id", "household_booklet"})
NO_SUCH_NUMBER = "服务结果:库中无此号，请到户籍所在地进行核实"
MISSING_FIELD = "必录项缺失"
ERR_LICENCE, ERR_CONDITIONS, ERR_QUOTA, ERR_BUSY = -10, -20, -30, -40

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

    def _attempt(self, query: VerificationQuery, timeout: float) -> SourceAnswer:
        multi = self._multi(query)
        conditions = self._conditions([query], multi=multi)
        out = self._soap.call(
            "nciicCheckMulti" if multi else "nciicCheck",
            timeout,
            inLicense=self._settings.licence.get_secret_value(),
            inConditions=conditions,
        )
        rows = self._rows(out, expected_root="ROWS")
        results = self._results(rows)
        if len(results) != 1:
            raise ContractViolation(self.source, f"{len(results)} answer rows for one query")
        return results[0]

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
        raise RequestRejected(self.source, f"request rejected, errorcode {code}")

    def _results(self, rows: etree._Element) -> list[SourceAnswer]:
        results = []
        for row in rows.findall("ROW"):
            fields: dict[VerifiedField, FieldVerdict] = {}
            found = True
            for item in row.findall("OUTPUT/ITEM"):
                message = item.findtext("errormesage")
                if message == NO_SUCH_NUMBER:
                    found = False
                    fields[VerifiedField.ID_NUMBER] = FieldVerdict.NO_RECORD
                elif message == MISSING_FIELD:
                    raise RequestRejected(
                        self.source, f"required field missing: {item.findtext('errormesagecol')}"
                    )
                else:
                    element = item[0]
                    fields[_FIELDS[etree.QName(element).localname]] = _VERDICTS[element.text or ""]
            results.append(SourceAnswer(source=self.source, found=found, fields=fields))
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
