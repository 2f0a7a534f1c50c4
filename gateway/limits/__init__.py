"""Adapter limits shared by every gateway process of a deployment: the daily quota and the calls in
flight per source, held in PostgreSQL (docs/adr/010-shared-adapter-limits.md)."""
