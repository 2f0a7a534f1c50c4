"""Bulk registration: batch files submitted over HTTP or the command line, run resumably row by row."""
