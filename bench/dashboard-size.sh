#!/usr/bin/env bash
# Prints the size of the dashboard as shipped to Pages (frontend/dist after `vite build`):
# each JavaScript and CSS file raw and gzip, and the total against the 150 KB gzip target.
set -euo pipefail
cd "$(dirname "$0")/.."
npm --prefix frontend run --silent build >/dev/null
total_raw=0
total_gz=0
printf '%-44s %10s %10s\n' file raw gzip
for f in frontend/dist/assets/*.js frontend/dist/assets/*.css; do
  raw=$(stat -c %s "$f")
  gz=$(gzip -9 -c "$f" | wc -c)
  total_raw=$((total_raw + raw))
  total_gz=$((total_gz + gz))
  printf '%-44s %10d %10d\n' "$f" "$raw" "$gz"
done
printf '%-44s %10d %10d  (target: under 153600 gzip, %.0f%% of it)\n' total "$total_raw" "$total_gz" \
  "$(awk -v g="$total_gz" 'BEGIN { print g * 100 / 153600 }')"
