"""Students after registration: status changes (学籍异动) checked by a state machine and by
jurisdiction, reads of a student and their event history, and the partner verification that a code
and a few demographics belong together. Routes are in ``endpoints.router``; the rules in ``service``,
``statemachine`` and ``verification`` (the last two pure)."""
