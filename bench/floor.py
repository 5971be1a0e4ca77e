"""The floor: one Python process that reads every YAML file and regex-searches it.

Nothing can decide "does this repo need the fix?" faster without skipping files, so
`codemods run --check` is measured against this.
"""

from __future__ import annotations

import os
import re
import sys

PATTERN = re.compile(rb"litellm-helm|kind:\s*Job")


def main(root: str) -> int:
    hits = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.endswith((".yaml", ".yml", ".j2")):
                with open(os.path.join(dirpath, name), "rb") as handle:
                    if PATTERN.search(handle.read()):
                        hits += 1
    print(hits)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
