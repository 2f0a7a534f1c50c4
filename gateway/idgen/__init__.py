"""National student codes: pure formats (``formats``) and their allocation in the caller's transaction."""
