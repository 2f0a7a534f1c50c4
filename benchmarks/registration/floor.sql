-- The database's floor for one registration: the rows one verified new registration writes and the
-- look-ups it makes, as a pgbench script, in one transaction, with no Python in between.
-- Run by benchmarks/registration/floor.py (which explains it); the schema comes from PGOPTIONS.
-- Variables: :probes (rows of bench_floor_probe), :append_key (the gateway's append-lock key);
-- :client_id is pgbench's own. Every unique value comes from :tx, random over 63 bits.

\set probe random(1, :probes)
\set tx random(1, 9000000000000000000)

-- What the gateway works out in Python before it talks to the database: a new person's record
-- (a synthetic person not loaded), its 8 blocking-key digests, their lock keys and the keyed hash
-- of its ID number, all computed with the registry's keys.
SELECT d1, d2, d3, d4, d5, d6, d7, d8, locks, holder, region, school_code, birth_date, name, gender,
       ethnicity, household_region, guardian_name, id_encrypted, id_masked, identifier_encrypted,
       guardian_id_encrypted
FROM bench_floor_probe WHERE n = :probe \gset

BEGIN;

-- 1. The Idempotency-Key: locked, then looked up (a new key: nothing stored).
SELECT pg_advisory_xact_lock(:tx);
SELECT idempotency_record.client_id, idempotency_record.key, idempotency_record.request_hash,
       idempotency_record.status_code, idempotency_record.response_json, idempotency_record.created_at
FROM idempotency_record
WHERE idempotency_record.client_id = 'cl_floor'
  AND idempotency_record.key = 'floor-' || CAST(:client_id AS text) || '-' || CAST(:tx AS text);

-- 2. The blocking keys: locked (one call, sorted keys), then the persons sharing any of them, as
-- gateway.persons.repository.search_candidates finds them (there in one query), and the holders of the ID number.
SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:locks AS bigint[])) AS k;
SELECT person.id, person.current_code, person.status, person.merged_into_id, person.region,
       person.school_code, person.birth_date, person.created_at, person.updated_at, person.name,
       person.gender, person.ethnicity, person.id_type, person.id_number_encrypted,
       person.id_number_masked, person.nationality, person.household_region, person.guardian_name,
       person.verification_status, person.school_status, person.locked_by_transfer
FROM person
WHERE person.id IN (SELECT DISTINCT blocking_key.person_id FROM blocking_key
                    WHERE blocking_key.digest IN (:d1, :d2, :d3, :d4, :d5, :d6, :d7, :d8) LIMIT 200)
  AND person.status = 'active'
ORDER BY person.id;
SELECT person_identifier.id, person_identifier.person_id
FROM person_identifier
WHERE person_identifier.scheme = 'resident_id' AND person_identifier.value_hash = :holder
  AND person_identifier.valid_to IS NULL;

-- 3. The person, holding their G code (a sealed G code is 'G~' and 32 characters).
INSERT INTO person (current_code, status, merged_into_id, region, school_code, birth_date, created_at,
                    updated_at, name, gender, ethnicity, id_type, id_number_encrypted, id_number_masked,
                    nationality, household_region, guardian_name, verification_status, school_status,
                    locked_by_transfer)
VALUES ('G~' || md5(CAST(:tx AS text)), 'active', NULL, :region, :school_code, CAST(:birth_date AS date),
        now(), now(), :name, :gender, :ethnicity, 'resident_id', :id_encrypted, :id_masked, 'CHN',
        :household_region, :guardian_name, 'verified', 'registered', false)
RETURNING id AS pid, current_code AS gcode \gset

-- 4. Two codes issued (the L code, at once superseded, and the G code), and the lineage between them.
INSERT INTO issued_code (code, type, person_id, status, issued_at, issued_by)
VALUES ('L' || left(md5('L' || CAST(:tx AS text)), 18), 'L', :pid, 'superseded', now(), 'cl_floor')
ON CONFLICT (code) DO NOTHING RETURNING code AS lcode \gset
INSERT INTO issued_code (code, type, person_id, status, issued_at, issued_by)
VALUES (:gcode, 'G', :pid, 'current', now(), 'cl_floor')
ON CONFLICT (code) DO NOTHING RETURNING code;
INSERT INTO code_lineage (person_id, old_code, new_code, reason, detail, actor, occurred_at)
VALUES (:pid, :lcode, :gcode, 'verified_and_deduplicated', NULL, 'cl_floor', now()) RETURNING id;

-- 5. The ID number as an identifier, the 8 blocking keys (one multi-row INSERT), the verification job.
INSERT INTO person_identifier (person_id, scheme, national, value_hash, value_encrypted, value_masked,
                               valid_from, valid_to, source)
VALUES (:pid, 'resident_id', true, md5('i' || CAST(:tx AS text)) || md5('j' || CAST(:tx AS text)),
        :identifier_encrypted, :id_masked, now(), NULL, 'cl_floor')
ON CONFLICT DO NOTHING RETURNING id;
INSERT INTO blocking_key (digest, person_id)
VALUES (:d1, :pid), (:d2, :pid), (:d3, :pid), (:d4, :pid), (:d5, :pid), (:d6, :pid), (:d7, :pid), (:d8, :pid);
INSERT INTO verification_job (person_id, status, attempts, next_attempt_at, lease_until,
                              guardian_id_encrypted, last_reason, outcome, created_at, finished_at)
VALUES (:pid, 'done', 0, now(), NULL, :guardian_id_encrypted, 'match', 'verified', now(), now())
RETURNING id;

-- 6. The answer, stored for the Idempotency-Key.
INSERT INTO idempotency_record (client_id, key, request_hash, status_code, response_json, created_at)
VALUES ('cl_floor', 'floor-' || CAST(:client_id AS text) || '-' || CAST(:tx AS text),
        md5('r' || CAST(:tx AS text)) || md5('s' || CAST(:tx AS text)), 201,
        format('{"outcome": "issued", "code": "%s", "code_type": "G", "verification": "verified", '
               '"promoted_from": "%s", "warnings": [], "flags": []}',
               CAST(:gcode AS text), CAST(:lcode AS text)),
        now());

-- 7. The audit row and the two feed events (code.issued, code.promoted), chained and numbered under
-- the append lock by gateway_append, as gateway.db hands them over just before COMMIT.
SELECT * FROM gateway_append(
    :append_key,
    (SELECT jsonb_build_array(a || jsonb_build_object('payload', a::text))
     FROM (SELECT jsonb_build_object(
              'occurred_at', now(), 'client_id', 'cl_floor', 'acting_user', NULL, 'role', 'central',
              'action', 'registration.create', 'object_type', 'person',
              'object_ref', CAST(:gcode AS text), 'purpose', NULL, 'approval_ref', NULL,
              'record_count', 1, 'request_id', md5(CAST(:tx AS text)), 'outcome', 'issued') AS a) AS audit),
    jsonb_build_array(
        jsonb_build_object(
            'occurred_at', now(), 'type', 'code.issued', 'person_id', CAST(:pid AS integer),
            'code', CAST(:lcode AS text), 'old_code', NULL, 'region', CAST(:region AS text),
            'school_code', CAST(:school_code AS text), 'detail', NULL),
        jsonb_build_object(
            'occurred_at', now(), 'type', 'code.promoted', 'person_id', CAST(:pid AS integer),
            'code', CAST(:gcode AS text), 'old_code', CAST(:lcode AS text),
            'region', CAST(:region AS text), 'school_code', CAST(:school_code AS text),
            'detail', 'verified_and_deduplicated')));

COMMIT;
