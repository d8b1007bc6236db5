"""Helpers shared by the tests: drivers, test servers, contract checks. No test module is imported."""
