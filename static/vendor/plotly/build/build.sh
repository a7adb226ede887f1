#!/usr/bin/env bash
# Rebuilds ../plotly.min.js (see ../README.md): the exact packages of package-lock.json from the
# npm registry, then esbuild with build.mjs. Needs node and npm; nothing at run time or in CI does.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
node build.mjs ../plotly.min.js
rm -rf node_modules
sha256sum ../plotly.min.js
