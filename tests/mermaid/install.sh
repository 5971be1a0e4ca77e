#!/bin/sh
# Install a real Mermaid parser (mermaid + jsdom, driven by node) for tests/test_verify.py's
# flowchart check, under tests/mermaid/.install (git-ignored). Needs node and npm; no browser.
# Takes about 50 s on a 2-core machine with a cold npm cache.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dest="$here/.install"
mkdir -p "$dest"
[ -f "$dest/package.json" ] || printf '{"private": true}\n' > "$dest/package.json"
npm install --no-audit --no-fund --silent --prefix "$dest" mermaid@11 jsdom@24
echo "mermaid parser installed in $dest"
