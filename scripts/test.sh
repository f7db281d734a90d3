#!/usr/bin/env bash
# Sets up .venv and runs the whole test suite (unit and end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The design's llama.cpp binding, built from source once per machine: the local-LLM tests run on it and on xllamacpp.
bash scripts/llama_cpp_python.sh
# Only the tests need a browser (starting the studio does not): tests/test_browser.py drives Debian's
# Chromium, not Playwright's own download (which needs the open internet; apt only needs the package
# mirror), with a font for Chinese text (the browser test reads and photographs a Chinese run). Installed
# once, when missing and we may install as root; without them those tests fail, never skip.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-wqy-zenhei)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then sudo=; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo=none; fi
  if [ "$sudo" != none ] && command -v apt-get >/dev/null; then
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "note: tests/test_browser.py needs ${missing[*]} (Debian packages); install them as root." >&2
  fi
fi
# The slowest tests are listed at the end: CI must stay well within its 90 minutes, and this says where the time goes.
exec .venv/bin/python -m pytest -q --durations=25 "$@"
