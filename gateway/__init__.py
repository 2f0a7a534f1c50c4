"""Student Identity Gateway: lifelong national student codes, identity matching, verification and handoff."""

__version__ = "0.1.0"
