"""Mock government systems speaking the contracts under `contracts/`, for tests, trials and the demo."""
