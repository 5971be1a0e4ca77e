#!/usr/bin/env bash
# Installs the optional tools that some tests use and skip without. Idempotent; CI calls it.
set -euo pipefail
cd "$(dirname "$0")"
echo "tools: nothing optional to install yet"
