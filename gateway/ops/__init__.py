"""Operational endpoints: liveness, readiness, metrics and the published signing keys."""
