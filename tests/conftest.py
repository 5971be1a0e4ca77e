"""Session set-up shared by every test module."""

from __future__ import annotations

import compileall

from tests.helpers import ROOT

# Most tests run the CLI in the test process (tests/helpers.py: run_codemods), but dozens still
# start it as a real program (the process-boundary tests, the fault-injection trials). With
# PYTHONDONTWRITEBYTECODE set (as on CI machines), each of those would compile the package from
# source again: compile it once here, and every subprocess reads the bytecode.
compileall.compile_dir(ROOT / "codemods", quiet=1)
