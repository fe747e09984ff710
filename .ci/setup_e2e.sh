#!/usr/bin/env bash
# Prepare the browser tests (pytest -m e2e): Debian's chromium and the playwright package.
# The tests run with the network cut (every request that does not go to the app is refused):
# the map's scripts and stylesheets are served by the app itself (urbanseg_core/app/static),
# so nothing else is downloaded. Idempotent. Never runs `playwright install`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  echo "setup_e2e: installing Debian chromium"
  SUDO=""
  if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

python -c "import playwright" 2>/dev/null || pip install -q "playwright>=1.45"
echo "setup_e2e: ready ($(/usr/bin/chromium --version 2>/dev/null || echo 'chromium ?'))"
