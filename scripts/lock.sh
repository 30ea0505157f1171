#!/usr/bin/env bash
# Regenerate requirements.lock (`make lock`): every package of every extra, pinned, resolved with
# uv from pyproject.toml and constraints.txt for Linux x86_64 / CPython 3.11 (the dev machines, CI
# and the Docker images). scripts/setup.sh installs with `-c requirements.lock`, so any set of extras
# gets exactly these versions. Needs PyPI and the CPU torch wheel: the dev machines' /opt/wheels,
# or elsewhere the PyTorch CPU index (TORCH_INDEX_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TOOLS=${LOCK_VENV:-.venv-lock}
UV_VERSION=0.13.9
OUT=${LOCK_FILE:-requirements.lock}

if [ ! -x "$TOOLS/bin/uv" ] || [ "$("$TOOLS/bin/uv" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  [ -x "$TOOLS/bin/python" ] || "$PY" -m venv "$TOOLS"
  "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
torch_src=()
if [ -d "${FIND_LINKS:-/opt/wheels}" ] && compgen -G "${FIND_LINKS:-/opt/wheels}/torch-*+cpu-*.whl" > /dev/null; then
  torch_src=(--find-links "${FIND_LINKS:-/opt/wheels}")
else
  torch_src=(--extra-index-url "${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}")
fi
# unsafe-best-match: torch 2.13.0+cpu (wheel directory / CPU index) outranks PyPI's 2.13.0 (CUDA).
# An existing lock is kept as the preferred versions, so a re-lock only moves what it must;
# `rm requirements.lock && make lock` upgrades everything.
"$TOOLS/bin/uv" pip compile pyproject.toml --all-extras -c constraints.txt \
  --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
  "${torch_src[@]}" --index-strategy unsafe-best-match \
  --custom-compile-command "make lock" --quiet -o "$OUT.new"
# `torch==2.13.0` (no +cpu): the same lock serves the CUDA image (constraints-cuda.txt), and pip's
# `==2.13.0` still accepts 2.13.0+cpu where the CPU wheel is on offer (scripts/setup.sh).
sed -i -E 's/^(torch[a-z]*==[0-9.]+)\+[a-z0-9.]+$/\1/' "$OUT.new"
{
  echo "# Every package of every extra of qa-pipeline, pinned (Linux x86_64, CPython 3.11)."
  echo "# scripts/setup.sh installs with -c constraints.txt -c requirements.lock -e \".[\$EXTRAS]\";"
  echo "# regenerate with \`make lock\` (scripts/lock.sh) after changing pyproject.toml or constraints.txt."
  cat "$OUT.new"
} > "$OUT"
rm -f "$OUT.new"
echo "$OUT: $(grep -c '^[A-Za-z0-9].*==' "$OUT") packages pinned"
