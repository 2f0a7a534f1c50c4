"""The change feed: every change a downstream registry may follow, in one strictly increasing order."""
