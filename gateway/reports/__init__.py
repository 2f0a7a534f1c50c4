"""Monthly progress reports: collection, verification and problem-record figures per region."""
