"""Session set-up shared by every test module."""

from __future__ import annotations

import compileall

from tests.helpers import ROOT

# Most tests run the real CLI in a subprocess, hundreds of times. With PYTHONDONTWRITEBYTECODE
# set (as on CI machines), each of those would compile the package from source again: compile
# it once here, and every subprocess reads the bytecode (about a quarter off each start).
compileall.compile_dir(ROOT / "codemods", quiet=1)
