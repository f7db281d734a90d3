#!/usr/bin/env bash
# Sets up .venv, loads the bundled sample dialogues into the workspace and starts the studio on localhost.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m dialin_core ingest sample_data/dialogues.jsonl > /dev/null
exec .venv/bin/python -m streamlit run app.py --server.address localhost --server.headless true "$@"
