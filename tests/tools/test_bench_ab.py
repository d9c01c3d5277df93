"""The A/B bench's variant syntax (its measurements are tools/bench_service's, run by ``mammoedge bench``)."""

from pathlib import Path

import argparse
import pytest

from mammoedge.tools.bench_ab import parse_variant


def test_a_variant_is_a_tree_and_its_environment():
    name, tree, env = parse_variant("pdu16k=.:MAMMOEDGE__SERVICE__MAX_PDU_BYTES=16382:GLIBC_TUNABLES=glibc.malloc.x=1")
    assert name == "pdu16k" and tree == Path(".").resolve()
    assert env == {"MAMMOEDGE__SERVICE__MAX_PDU_BYTES": "16382", "GLIBC_TUNABLES": "glibc.malloc.x=1"}
    with pytest.raises(argparse.ArgumentTypeError):
        parse_variant("no-tree")
