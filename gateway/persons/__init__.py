"""Persons: who a registered human being is, the identifiers they hold, their blocking keys.

The lowest layer of the registry: registry, idgen, students, handoff and feed import it; it imports
none of them."""
