#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: Debian packages, a virtualenv, the core and every
# plugin in editable mode. Re-running it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
APT_PACKAGES=(ffmpeg libsox-dev sox espeak-ng chromium libfluidsynth3 fluid-soundfont-gm)  # chromium: headless check of the HTML report; libfluidsynth3 + fluid-soundfont-gm: midi-4stem rendering
# real recorded speech for separena.data.real (training sources and the real-dev set)
APT_PACKAGES+=(klettres-data tuxpaint-stamps-default hedgewars-data warzone2100-data
  asterisk-prompt-es-co asterisk-prompt-fr-armelle)

missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
stamp="$VENV/.separena-setup"
want="$(cat pyproject.toml plugins/*/pyproject.toml scripts/constraints.txt | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi

$PIP install -q --upgrade pip wheel setuptools
# torch and torchaudio must match exactly (asteroid imports torchaudio's binary).
$PIP install -q -c scripts/constraints.txt torch torchaudio
editables=(-e ".[dev]")  # dev includes the ray extra (tests/test_ray.py); users: pip install 'separena[ray]'
for d in plugins/*/; do [ -f "$d/pyproject.toml" ] && editables+=(-e "$d"); done
$PIP install -q -c scripts/constraints.txt "${editables[@]}"
echo "$want" > "$stamp"
