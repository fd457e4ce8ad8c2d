"""Ids: allocation from a ledger, the claims files make, and the check that enforces them."""
