"""The registry of persons: who holds which code and which identifiers, and the workflows over them."""
