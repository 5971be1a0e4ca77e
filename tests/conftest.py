"""Session set-up shared by every test module."""

from __future__ import annotations

import compileall
import sys

import pytest

from tests.helpers import ROOT

# Most tests run the CLI in the test process (tests/helpers.py: run_codemods), but dozens still
# start it as a real program (the process-boundary tests, the fault-injection trials). With
# PYTHONDONTWRITEBYTECODE set (as on CI machines), each of those would compile the package from
# source again: compile it once here, and every subprocess reads the bytecode.
compileall.compile_dir(ROOT / "codemods", quiet=1)

# Likewise pytest would rewrite and compile every test module's asserts again in each worker
# (seconds apiece): during collection, let it keep its rewritten bytecode (in tests/__pycache__,
# which git ignores) for the next run.
_DONT_WRITE_BYTECODE = sys.dont_write_bytecode
sys.dont_write_bytecode = False


def pytest_collection_finish(session: pytest.Session) -> None:
    sys.dont_write_bytecode = _DONT_WRITE_BYTECODE
