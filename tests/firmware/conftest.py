"""Fixtures of the firmware tests; the helpers live in ``firmware_helpers`` (a unique module name: a bare
``from conftest import`` would pick whichever conftest was imported first)."""

from firmware_helpers import box, lab, provisioned_template, venv_cache  # noqa: F401  (fixtures)
