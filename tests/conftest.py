"""Shared fixtures. Tests mirror the source folders: tests/runtime, tests/tools, tests/firmware."""
