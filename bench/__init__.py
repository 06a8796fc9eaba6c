"""Benchmark scripts; each compares two ways of doing the same work in one run."""
