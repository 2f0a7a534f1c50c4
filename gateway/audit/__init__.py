"""The append-only, hash-chained audit trail every disclosure and decision writes to."""
