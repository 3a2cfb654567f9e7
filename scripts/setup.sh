#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: Debian packages, a virtualenv, the core and every
# plugin in editable mode. Re-running it only installs what is missing.
# Prints one line per step; what apt and pip print goes to $VENV/setup.log (rewritten by each
# run that has work to do), whose last 40 lines are shown if a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
LOG="$VENV/setup.log"
APT_PACKAGES=(ffmpeg libsox-dev sox espeak-ng chromium libfluidsynth3 fluid-soundfont-gm)  # chromium: headless check of the HTML report; libfluidsynth3 + fluid-soundfont-gm: midi-4stem rendering
# real recorded speech for separena.data.real (training sources and the real-dev set)
APT_PACKAGES+=(klettres-data tuxpaint-stamps-default hedgewars-data warzone2100-data
  asterisk-prompt-es-co asterisk-prompt-fr-armelle)
# training speakers of voices built from recordings of people (separena.data.tts): Flite, Festival
APT_PACKAGES+=(flite festival festvox-kdlpc16k festvox-us-slt-hts festvox-czech-dita festvox-czech-krb
  festvox-czech-machac festvox-czech-ph festvox-suopuhe-mv festvox-suopuhe-lj festvox-italp16k festvox-itapc16k
  festvox-ru festvox-ca-ona-hts)
# real recorded speech of the `transfer` test set (separena.data.transfer): never training sources
APT_PACKAGES+=(ktuberling-data kajongg)
# midi-4stem's transfer test set: another soundfont and human-composed MIDI songs (separena.data.music_transfer)
APT_PACKAGES+=(csound-soundfont planetblupi-music-midi simutrans-data mma)
# midi-4stem's training ingredients: a soundfont pool and recorded drum kits (separena.data.music_production)
APT_PACKAGES+=(fluidr3mono-gm-soundfont timgm6mb-soundfont opl3-soundfont hydrogen-drumkits)
# the freepats patch set, played with TiMidity++ (an ablation choice, not in the default pool)
APT_PACKAGES+=(freepats timidity)

log_started=0
step() {  # step DESCRIPTION COMMAND...: run COMMAND with its output in $LOG; one line, or the log's tail on failure
  local what=$1 t0=$SECONDS rc
  shift
  if [ "$log_started" = 0 ]; then
    mkdir -p "$VENV"
    : > "$LOG"
    log_started=1
  fi
  printf '== %s\n$ %s\n' "$what" "$*" >> "$LOG"
  printf 'setup: %s ... ' "$what"
  if "$@" >> "$LOG" 2>&1; then
    echo "done ($((SECONDS - t0)) s)"
  else
    rc=$?
    echo "FAILED (exit status $rc)"
    echo "---- last 40 lines of $LOG ----"
    tail -n 40 "$LOG"
    echo "---- full log: $LOG"
    exit "$rc"
  fi
}

missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  step "apt-get update" $SUDO apt-get update -q
  step "Debian packages: ${#missing[@]} missing (${missing[*]})" \
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

[ -x "$VENV/bin/python" ] || step "virtualenv $VENV" python3 -m venv "$VENV"
PIP=(env PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off "$VENV/bin/python" -m pip)  # options as variables: they precede the subcommand
stamp="$VENV/.separena-setup"
want="$(cat pyproject.toml plugins/*/pyproject.toml scripts/constraints.txt | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  if [ "$log_started" = 1 ]; then echo "setup: done (log: $LOG)"
  else echo "setup: nothing to do (Debian packages present, $VENV up to date)"; fi
  exit 0
fi

step "pip, wheel, setuptools" "${PIP[@]}" install --upgrade pip wheel setuptools
# torch and torchaudio must match exactly (asteroid imports torchaudio's binary).
step "torch and torchaudio (pinned in scripts/constraints.txt)" \
  "${PIP[@]}" install -c scripts/constraints.txt torch torchaudio
editables=(-e ".[dev]")  # dev includes the ray extra (tests/test_ray.py); users: pip install 'separena[ray]'
for d in plugins/*/; do [ -f "$d/pyproject.toml" ] && editables+=(-e "$d"); done
step "separena and $(( ${#editables[@]} / 2 - 1 )) plugins, editable, with their dependencies" \
  "${PIP[@]}" install -c scripts/constraints.txt "${editables[@]}"
echo "$want" > "$stamp"
echo "setup: done; $VENV is ready (log: $LOG)"
