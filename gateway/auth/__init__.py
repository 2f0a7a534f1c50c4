"""API clients, their credentials and tokens, and the caller every request is made by."""
