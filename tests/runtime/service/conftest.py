"""Fixtures of the service tests; the helpers live in ``service_helpers`` (a unique module name: a bare
``from conftest import`` would pick whichever conftest was imported first)."""

from service_helpers import phantom_exam, serve  # noqa: F401  (fixtures)
