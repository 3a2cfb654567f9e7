#!/usr/bin/env bash
# What travels to a lent GPU machine is the working tree (tracked files and untracked files git
# does not ignore) plus the carried kit, 64 MiB in all. The published weights (published/weights,
# about 34 MiB) are not needed there (runs are scored and published here) but push the speech
# kit over the limit. This leaves them behind for the GPU calls and brings them back after,
# without touching the files:
#
#   bash benchmarks/gpu_tree.sh slim      # before the GPU calls: published/weights untracked and ignored
#   bash benchmarks/gpu_tree.sh restore   # after them: tracked again, as committed
#   bash benchmarks/gpu_tree.sh size [KIT...]   # MiB that would travel, with the kit folders named
#
# While the tree is slim a pre-commit hook refuses every commit, so the weights' removal from
# the index can never be committed by mistake.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
weights=published/weights
exclude=$(git rev-parse --git-path info/exclude)
hook=$(git rev-parse --git-path hooks)/pre-commit
line="/$weights/"
marker="# separena: the tree is slim for a GPU call"

slim() {
  [ -z "$(git ls-files -- "$weights")" ] && { echo "gpu_tree: already slim ($weights untracked)"; return; }
  [ -z "$(git status --porcelain -- "$weights")" ] || { echo "gpu_tree: $weights has uncommitted changes; commit them first" >&2; exit 1; }
  [ -e "$hook" ] && ! grep -q "$marker" "$hook" && { echo "gpu_tree: $hook exists; expected none (it would be replaced)" >&2; exit 1; }
  mkdir -p "$(dirname "$exclude")" "$(dirname "$hook")"
  git rm -r -q --cached -- "$weights"
  grep -qxF "$line" "$exclude" 2>/dev/null || echo "$line" >> "$exclude"
  printf '#!/bin/sh\n%s\necho "pre-commit: %s is untracked for a GPU call; run bash benchmarks/gpu_tree.sh restore first" >&2\nexit 1\n' \
    "$marker" "$weights" > "$hook"
  chmod +x "$hook"
  echo "slim: $weights stays here and no longer travels; bash benchmarks/gpu_tree.sh restore brings it back"
}

restore() {
  git reset -q -- "$weights"
  if [ -f "$exclude" ]; then
    grep -vxF "$line" "$exclude" > "$exclude.new" || true
    mv "$exclude.new" "$exclude"
  fi
  if [ -f "$hook" ] && grep -q "$marker" "$hook"; then rm -f "$hook"; fi
  [ -z "$(git status --porcelain -- "$weights")" ] || { echo "gpu_tree: $weights differs from the last commit" >&2; exit 1; }
  echo "restored: $weights tracked as committed"
}

size() {
  local tree total n kit
  tree=$(git ls-files -co --exclude-standard -z | du -cb --apparent-size --files0-from=- 2>/dev/null | tail -1 | cut -f1)
  total=$tree
  printf '%-24s %6s MiB\n' "working tree" "$(mib "$tree")"
  for kit in "$@"; do
    n=$(du -sb --apparent-size "$kit" | cut -f1)
    total=$((total + n))
    printf '%-24s %6s MiB\n' "$kit" "$(mib "$n")"
  done
  if [ "$total" -le $((64 * 1024 * 1024)) ]; then
    printf '%-24s %6s MiB (limit 64 MiB)\n' total "$(mib "$total")"
  else
    printf '%-24s %6s MiB (limit 64 MiB: OVER)\n' total "$(mib "$total")"
    return 1
  fi
}

mib() { awk -v n="$1" 'BEGIN { printf "%.1f", n / 1048576 }'; }

case "${1:-}" in
  slim) slim ;;
  restore) restore ;;
  size) shift; size "$@" ;;
  *) echo "usage: bash benchmarks/gpu_tree.sh slim|restore|size [KIT...]" >&2; exit 2 ;;
esac
