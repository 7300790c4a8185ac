"""Parity: run a reference and candidates on the same inputs and say whether, and where, they part."""
