"""Verification of identities against the government systems: adapters, resilience and the orchestrator."""
