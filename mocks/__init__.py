"""Mock government systems speaking the contracts in `gateway/contracts/`, for tests, trials, the demo."""
