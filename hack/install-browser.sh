#!/usr/bin/env bash
# Installs Chromium from the OS packages for the dashboard's browser tests (puppeteer-core drives
# it; nothing is downloaded by npm). Does nothing when a Chromium is already there. Debian and
# Ubuntu (apt-get); elsewhere it says what to install. Prints the browser's path last.
set -euo pipefail
for candidate in "${BULKHEAD_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  if [[ -n "$candidate" && -x "$candidate" ]]; then
    echo "$candidate"
    exit 0
  fi
done
if ! command -v apt-get >/dev/null; then
  echo "install-browser: no Chromium found and no apt-get here: install Chromium and set BULKHEAD_CHROMIUM to its path" >&2
  exit 1
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "install-browser: installing Chromium needs root (apt-get install chromium)" >&2
    exit 1
  fi
  sudo=(sudo)
fi
echo "install-browser: installing chromium from the OS packages (once; it is large)" >&2
"${sudo[@]}" apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium >&2
echo /usr/bin/chromium
