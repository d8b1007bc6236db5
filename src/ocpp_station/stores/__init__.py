"""Implementations of the station's `Store` port."""
