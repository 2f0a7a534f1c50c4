"""Handoffs between stages and provinces: preschool intake, claims, scoped pulls, exports, the change
feed per caller and cross-province transfers."""
