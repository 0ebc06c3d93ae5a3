"""Authorisation core: vectors and properties."""
