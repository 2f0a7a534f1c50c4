"""Overhead of the adapter stack: verifications per second through the full stack (zeep or httpx client,
contract validation both ways, retry, breaker, concurrency limit, quota, HMAC cache key; the answer cache
off so every call reaches the wire) against the zero-latency mocks, as a ratio to direct HTTP calls of
the same mocks with prebuilt bodies, and the p99 latency the stack adds. Also the orchestrator (population
register + social security in parallel) and a cache-hit figure.

Then bulk verification: verifications per second of citizens (population register + social security)
asked one at a time as the worker used to (sequentially, and from 8 threads), against the bulk entry
(`verify_queries`: chunks of 100 rows per call, the chunks in parallel), with the calls each made;
on zero-latency mocks and on mocks answering in a median 200 ms, as the real register does.

    .venv/bin/python benchmarks/adapters/run.py [--calls N] [--population N] [--bulk N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from xml.sax.saxutils import escape

import httpx

from gateway.adapters.base import Source, VerificationQuery
from gateway.adapters.orchestrator import VerificationOrchestrator, build_verifiers
from gateway.adapters.settings import AdaptersSettings
from mocks.faults import FaultPlan
from mocks.population import Person, Population
from mocks.server import RunningMocks, start_mocks

NCIIC_NS = "urn:gateway:contracts:public-security:nciic:1"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"


def timed(calls: list[Callable[[], object]]) -> tuple[float, list[float]]:
    latencies = []
    started = time.perf_counter()
    for call in calls:
        begin = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - begin)
    return time.perf_counter() - started, latencies


def p(latencies: list[float], q: float) -> float:
    return statistics.quantiles(latencies, n=100, method="inclusive")[int(q) - 1] * 1000


def report(label: str, stack: tuple[float, list[float]], direct: tuple[float, list[float]]) -> None:
    (stack_s, stack_lat), (direct_s, direct_lat) = stack, direct
    stack_rate, direct_rate = len(stack_lat) / stack_s, len(direct_lat) / direct_s
    print(
        f"{label:18} stack {stack_rate:8.0f}/s  direct {direct_rate:8.0f}/s  "
        f"ratio {stack_rate / direct_rate:5.2f}  "
        f"p50 {p(stack_lat, 50):6.2f} ms (direct {p(direct_lat, 50):5.2f})  "
        f"p99 {p(stack_lat, 99):6.2f} ms (direct {p(direct_lat, 99):5.2f})  "
        f"p99 added {p(stack_lat, 99) - p(direct_lat, 99):6.2f} ms"
    )


def query(person: Person) -> VerificationQuery:
    return VerificationQuery(
        id_type=person.id_type,
        id_number=person.id_number,
        name=person.name,
        birth_date=person.birth_date,
        gender=person.gender,
        ethnicity=person.ethnicity,
    )


def soap_body(person: Person) -> bytes:
    conditions = (
        "<ROWS><INFO><SBM>bench</SBM></INFO><ROW><GMSFHM>公民身份号码</GMSFHM><XM>姓名</XM><XB>性别</XB><MZ>民族</MZ>"
        f'<CSRQ>出生日期</CSRQ></ROW><ROW FSD="100000" YWLX="bench"><GMSFHM>{person.id_number}</GMSFHM>'
        f"<XM>{person.name}</XM><XB>{person.gender}</XB><MZ>{person.ethnicity}</MZ>"
        f"<CSRQ>{person.birth_date:%Y%m%d}</CSRQ></ROW></ROWS>"
    )
    return (
        f'<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body><n:nciicCheckMulti xmlns:n="{NCIIC_NS}">'
        f"<n:inLicense>demo-licence</n:inLicense><n:inConditions>{escape(conditions)}</n:inConditions>"
        "</n:nciicCheckMulti></soap:Body></soap:Envelope>"
    ).encode()


def mock_requests(mocks: RunningMocks) -> int:
    """Requests the population register and social security received since their plans were set."""
    return sum(
        mocks.injectors[name].snapshot().get("requests", 0) for name in ("public_security", "social_security")
    )


def bulk_figures(
    mocks: RunningMocks,
    orchestrator: VerificationOrchestrator,
    people: list[Person],
    sizes: dict[str, int],
    latency_ms: float,
) -> None:
    """One line: the three ways of asking about citizens, each on its own share of `people`."""
    figures = []
    for label, size in sizes.items():
        sample = [query(people[i % len(people)]) for i in range(size)]
        for name in ("public_security", "social_security"):
            mocks.injectors[name].set_plan(FaultPlan(latency_ms=latency_ms))  # fresh counters too
        started = time.perf_counter()
        if label == "single":
            verdicts = [orchestrator.verify_query(q) for q in sample]
        elif label == "single x8":
            with ThreadPoolExecutor(8) as threads:
                verdicts = list(threads.map(orchestrator.verify_query, sample))
        else:
            verdicts = orchestrator.verify_queries(sample)
        elapsed = time.perf_counter() - started
        verified = sum(v.outcome.value == "verified" for v in verdicts)
        assert verified == size, f"{label}: {size - verified} not verified"  # a broken run, not a slow one
        figures.append(
            f"{label} {size / elapsed:7.0f}/s ({size} in {elapsed:4.1f} s, {mock_requests(mocks)} calls)"
        )
    print(f"{'bulk, ' + f'{latency_ms:.0f} ms':18} " + "  ".join(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--population", type=int, default=2000)
    parser.add_argument("--bulk", type=int, default=3000, help="citizens verified in bulk, zero latency")
    args = parser.parse_args()

    population = Population.synthetic(args.population, 20260901)
    people = [p for p in population if p.id_type == "resident_id"]
    sample = [people[i % len(people)] for i in range(args.calls)]
    mocks = start_mocks(population)
    defaults = AdaptersSettings()
    settings = defaults.model_copy(
        update={
            s.value: getattr(defaults, s.value).model_copy(
                update={"base_url": mocks.endpoints[s.value], "cache_ttl": 0.0}
            )
            for s in Source
        }
    )
    verifiers = build_verifiers(settings, hmac_key=b"benchmark")
    direct = httpx.Client(headers={"X-Licence": "demo-licence"})
    try:
        print(f"{args.calls} sequential calls per figure, zero-latency mocks on loopback, answer cache off")
        ps, ss = verifiers[Source.PUBLIC_SECURITY], verifiers[Source.SOCIAL_SECURITY]
        for warm in sample[:20]:  # connections, zeep and schema caches
            ps.verify(query(warm))
            ss.verify(query(warm))
        bodies = [soap_body(person) for person in sample]
        report(
            "public_security",
            timed([lambda person=person: ps.verify(query(person)) for person in sample]),
            timed(
                [
                    lambda body=body: direct.post(
                        mocks.endpoints["public_security"], content=body, headers={"Content-Type": "text/xml"}
                    ).raise_for_status()
                    for body in bodies
                ]
            ),
        )
        ss_url = f"{mocks.endpoints['social_security']}/v1/insured/verify"
        report(
            "social_security",
            timed([lambda person=person: ss.verify(query(person)) for person in sample]),
            timed(
                [
                    lambda person=person: direct.post(
                        ss_url,
                        json={
                            "id_number": person.id_number,
                            "name": person.name,
                            "birth_date": person.birth_date.isoformat(),
                        },
                    ).raise_for_status()
                    for person in sample
                ]
            ),
        )
        orchestrator = VerificationOrchestrator(verifiers)
        elapsed, latencies = timed(
            [lambda person=person: orchestrator.verify_query(query(person)) for person in sample]
        )
        print(
            f"{'orchestrator':18} {len(sample) / elapsed:8.0f} verdicts/s  p50 {p(latencies, 50):6.2f} ms  "
            f"p99 {p(latencies, 99):6.2f} ms  (population register + social security in parallel)"
        )
        cached = build_verifiers(
            settings.model_copy(
                update={"public_security": settings.public_security.model_copy(update={"cache_ttl": 600.0})}
            ),
            hmac_key=b"benchmark",
        )[Source.PUBLIC_SECURITY]
        cached.verify(query(sample[0]))
        elapsed, latencies = timed([lambda: cached.verify(query(sample[0])) for _ in sample])
        print(f"{'cache hit':18} {len(sample) / elapsed:8.0f}/s  p99 {p(latencies, 99):6.3f} ms")
        cached.close()
        print(
            "citizens verified (population register + social security): one at a time, one at a time "
            "from 8 threads, in bulk (chunks of 100 rows per call)"
        )
        bulk_figures(
            mocks, orchestrator, people, {"single": args.bulk, "single x8": args.bulk, "bulk": args.bulk}, 0
        )
        bulk_figures(
            mocks,
            orchestrator,
            people,
            {"single": args.bulk // 60, "single x8": args.bulk // 8, "bulk": args.bulk},
            200,
        )
    finally:
        direct.close()
        for verifier in verifiers.values():
            verifier.close()
        mocks.stop()


if __name__ == "__main__":
    main()
