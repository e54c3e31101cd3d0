"""Helpers shared by the tests (see tests/conftest.py)."""
