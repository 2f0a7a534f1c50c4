"""append function: audit rows and feed events written in one call under the append lock (PostgreSQL)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 00:20:00

Every acknowledged write ends by appending to the audit chain and the change feed under one global
lock, held until COMMIT. Doing the lock, the chaining and the numbering in one server-side call
leaves only that call and the COMMIT inside the lock, instead of one round trip per statement.
The hash is the same SHA-256 the gateway computes (``gateway.audit.service``): previous hash followed
by the row's canonical JSON payload, which the gateway sends. A volatile PL/pgSQL function takes a
new snapshot for each statement, so what it reads after taking the lock is the latest committed.
"""
from typing import Sequence, Union

from alembic import op


revision: str = '0009'
down_revision: Union[str, None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

FUNCTION = """
CREATE FUNCTION gateway_append(lock_key bigint, audit_rows jsonb, feed_rows jsonb)
RETURNS TABLE (audit_id integer, audit_prev_hash varchar, audit_hash varchar)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    item jsonb;
    prev varchar;
    next_hash varchar;
    last_version integer;
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    IF jsonb_array_length(audit_rows) > 0 THEN
        SELECT a.hash INTO prev FROM audit_event a ORDER BY a.id DESC LIMIT 1;
        prev := coalesce(prev, repeat('0', 64));
        FOR item IN SELECT r.value FROM jsonb_array_elements(audit_rows) AS r(value) LOOP
            next_hash := encode(sha256(convert_to(prev || (item->>'payload'), 'UTF8')), 'hex');
            INSERT INTO audit_event (
                occurred_at, client_id, acting_user, role, action, object_type, object_ref, purpose,
                approval_ref, record_count, request_id, outcome, prev_hash, hash
            ) VALUES (
                (item->>'occurred_at')::timestamptz, item->>'client_id', item->>'acting_user',
                item->>'role', item->>'action', item->>'object_type', item->>'object_ref',
                item->>'purpose', item->>'approval_ref', (item->>'record_count')::integer,
                item->>'request_id', item->>'outcome', prev, next_hash
            ) RETURNING audit_event.id INTO audit_id;
            audit_prev_hash := prev;
            audit_hash := next_hash;
            RETURN NEXT;
            prev := next_hash;
        END LOOP;
    END IF;
    IF jsonb_array_length(feed_rows) > 0 THEN
        SELECT coalesce(max(c.version), 0) INTO last_version FROM change_event c;
        INSERT INTO change_event (
            version, occurred_at, type, person_id, code, old_code, region, school_code, detail
        )
        SELECT last_version + f.n::integer, (f.value->>'occurred_at')::timestamptz, f.value->>'type',
               (f.value->>'person_id')::integer, f.value->>'code', f.value->>'old_code',
               f.value->>'region', f.value->>'school_code', f.value->>'detail'
        FROM jsonb_array_elements(feed_rows) WITH ORDINALITY AS f(value, n);
    END IF;
END $$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS gateway_append(bigint, jsonb, jsonb)")
