#!/usr/bin/env bash
# System packages the test suite needs besides Python: Chromium (browser tests of `qa serve`,
# driven by Playwright with executable_path=/usr/bin/chromium — no browser download) and a
# PostgreSQL server (the web/store tests start a throwaway cluster on 127.0.0.1) and a CJK font
# (fonts-noto-cjk: the Chinese-first pages and their screenshots render Chinese, not boxes).
# Installs them with apt-get when running as root; otherwise says what is missing.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if ! command -v initdb >/dev/null 2>&1 && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  missing+=(postgresql)
fi
command -v fc-match >/dev/null 2>&1 || missing+=(fontconfig)  # fc-match: the CJK font check in the browser tests
fc-list 2>/dev/null | grep -q "Noto Sans CJK" || missing+=(fonts-noto-cjk)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "missing system packages: ${missing[*]} (Debian/Ubuntu: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
