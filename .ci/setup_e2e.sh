#!/usr/bin/env bash
# Prepare the browser tests (pytest -m e2e): Debian's chromium and local copies of the
# JavaScript/CSS that folium loads from CDNs (answered by tests/e2e/cdn.py via page.route).
# Idempotent: returns quickly when both are present. Never runs `playwright install`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  echo "setup_e2e: installing Debian chromium"
  SUDO=""
  if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

if [ ! -f tests/e2e/node_modules/leaflet/dist/leaflet.js ] || \
   [ ! -f tests/e2e/node_modules/leaflet-draw/dist/leaflet.draw.js ]; then
  echo "setup_e2e: installing the npm copies of folium's CDN assets into tests/e2e/node_modules"
  if [ -f tests/e2e/package-lock.json ]; then
    (cd tests/e2e && npm ci --no-audit --no-fund --silent --ignore-scripts)
  else
    (cd tests/e2e && npm install --no-audit --no-fund --silent --ignore-scripts)
  fi
fi

python -c "import playwright" 2>/dev/null || pip install -q "playwright>=1.45"
echo "setup_e2e: ready ($(/usr/bin/chromium --version 2>/dev/null || echo 'chromium ?'))"
