#!/usr/bin/env bash
# What a national quarter costs: `tuban run` (detection, coverage, overlay, county packages) on
# synth counties at 0.8 m and 2 m, on 1 and 2 threads, wall seconds and peak memory, the run's
# own split by stage, and from those the cores needed for one quarter (about 9.6 million km²)
# within two weeks and within 24 hours. One run, same machine: compare the rows, not machines.
#
# usage: tools/bench_projection.sh [SIZE=4096] [WORKDIR=/tmp/tuban-projection]
set -euo pipefail
size=${1:-4096}
work=${2:-/tmp/tuban-projection}
here=$(cd "$(dirname "$0")" && pwd)
target=${CARGO_TARGET_DIR:-$here/../target}
tuban=$target/release/tuban
(cd "$here/.." && cargo build --release --quiet)
mkdir -p "$work"
printf "%-6s %-7s %9s %9s %10s %9s  %s\n" gsd threads seconds "Mpx/s" "km2/h" "peak MB" "stages (s)"
for gsd in 0.8 2; do
  scene=$work/synth-$size-$gsd
  [ -f "$scene/after.tif" ] || "$tuban" synth --size "$size" --seed 1 --gsd "$gsd" --counties 4 --out "$scene" >/dev/null
  for threads in 1 2; do
    out=$work/run-$gsd-$threads
    rm -rf "$out"
    /usr/bin/time -f "%e %M" -o "$work/time.txt" \
      "$tuban" --threads "$threads" run "$scene/job.toml" --out "$out" --backend cpu >/dev/null 2>&1
    read -r secs kb <"$work/time.txt"
    stages=$(/usr/bin/python3 -c "
import json; s = json.load(open('$out/run.json'))['seconds']
print(', '.join(f'{k} {v:.2f}' for k, v in sorted(s.items())))")
    awk -v g="$gsd" -v t="$threads" -v s="$secs" -v kb="$kb" -v n="$size" -v st="$stages" 'BEGIN {
      px = n * n; km2 = px * g * g / 1e6
      printf "%-6s %-7s %9.2f %9.2f %10.1f %9.0f  %s\n", g, t, s, px / s / 1e6, km2 / s * 3600, kb / 1024, st }'
    echo "$gsd $threads $secs $kb" >>"$work/rows.txt"
  done
done
# Cores for a quarter: 9.6e6 km² per date pair, at the one-thread rate (a Slurm task of one CPU
# per county: the stages after detection run on one core, so one-CPU tasks use cores best).
awk -v n="$size" 'BEGIN { area = 9.6e12 }
  { if ($2 == 1) rate[$1] = n * n / $3 }
  function up(x) { return x == int(x) ? x : int(x) + 1 }
  END {
    for (g in rate) {
      px = area / (g * g)
      core_s = px / rate[g]
      printf "gsd %s m: %.2e px per date, %.0f core-hours; cores for 2 weeks %d, for 24 h %d (nodes of 2 cores: %d, %d)\n",
        g, px, core_s / 3600, up(core_s / (14 * 86400)), up(core_s / 86400), up(core_s / (14 * 86400) / 2), up(core_s / 86400 / 2)
    }
  }' "$work/rows.txt"
rm -f "$work/rows.txt"
