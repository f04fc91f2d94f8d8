#!/usr/bin/env bash
# A real Slurm cluster on this one machine runs a tuban plan, and the result is a local run's.
#
#   1. installs slurm-wlm and munge from Debian when missing (root or passwordless sudo);
#   2. starts munged, slurmctld and slurmd (a one-node cluster with this machine's CPUs) on
#      private sockets and ports, all state in a temporary folder;
#   3. makes a four-county synth job, runs it locally (`tuban run`) for reference;
#   4. `tuban plan --cpus 1`, submits the plan's submit.sh (job arrays + a merge after them);
#   5. kills one county task mid-way (scancel while it runs), checks it left no finished
#      record, cancels the merge that can now never start, resubmits the task and a merge;
#   6. waits for the merge, then checks merged.gpkg holds exactly the local run's leads (every
#      field but the provenance ids and chip paths, and the areas);
#   7. stops every daemon it started (also on failure) and removes its folder (KEEP=1 keeps it).
#
# usage: tools/slurm_test.sh [TUBAN_BINARY]   (default: the release build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tuban=${1:-${CARGO_TARGET_DIR:-$here/../target}/release/tuban}
[ -x "$tuban" ] || { echo "slurm_test: no tuban binary at $tuban (cargo build --release)" >&2; exit 2; }
tuban=$(cd "$(dirname "$tuban")" && pwd)/$(basename "$tuban")
sudo=""
if [ "$(id -u)" != 0 ]; then
  sudo -n true 2>/dev/null || { echo "slurm_test: needs root (slurmd runs as root)" >&2; exit 2; }
  sudo="sudo -n"
fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  echo "slurm_test: installing slurm-wlm and munge" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

work=$(mktemp -d /tmp/tuban-slurm.XXXXXX)
chmod 755 "$work"
cleanup() {
  local rc=$?
  for pid in "$work"/slurmd.pid "$work"/slurmctld.pid "$work"/munge/munged.pid; do
    [ -f "$pid" ] && $sudo kill "$(cat "$pid")" 2>/dev/null || true
  done
  sleep 1
  if [ $rc != 0 ]; then
    echo "slurm_test: FAILED; logs:" >&2
    tail -n 20 "$work"/log/*.log "$work"/plan/logs/*.log 2>/dev/null >&2 || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "slurm_test: kept $work" >&2; else $sudo rm -rf "$work"; fi
  exit $rc
}
trap cleanup EXIT

# munge: its own key and socket.
mkdir -p "$work/munge" "$work/state" "$work/spool" "$work/log"
dd if=/dev/urandom bs=1 count=1024 of="$work/munge/munge.key" status=none
chmod 600 "$work/munge/munge.key"
sock=$work/munge/munge.sock
$sudo munged --force --key-file="$work/munge/munge.key" --socket="$sock" \
  --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" --seed-file="$work/munge/seed"
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done

# A one-node cluster: this host, its CPUs, most of its memory; ports picked at random.
host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.8}' /proc/meminfo)
port=$((20000 + RANDOM % 20000))
export SLURM_CONF=$work/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=tuban-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
ReturnToService=2
MpiDefault=none
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
$sudo env SLURM_CONF="$SLURM_CONF" slurmctld
$sudo env SLURM_CONF="$SLURM_CONF" slurmd
for _ in $(seq 100); do
  sinfo -h -o %T 2>/dev/null | grep -q idle && break
  sleep 0.2
done
sinfo -h -o %T | grep -q idle || { echo "slurm_test: the node did not come up" >&2; exit 1; }
echo "slurm_test: cluster up ($host, $cpus CPUs, $mem MB)" >&2

# The job, and a local run of it for reference.
"$tuban" synth --size 2048 --seed 3 --counties 4 --out "$work/synth" >/dev/null
"$tuban" run "$work/synth/job.toml" --out "$work/local" --backend cpu >/dev/null 2>&1
"$tuban" plan "$work/synth/job.toml" --out "$work/plan" --cpus 1 >"$work/plan.txt"
grep -q "plan: 4 county tasks" "$work/plan.txt" || { cat "$work/plan.txt" >&2; exit 1; }

submitted=$(bash "$work/plan/submit.sh")
echo "$submitted" >&2
array=$(echo "$submitted" | awk '/^tasks / {sub(":", "", $2); print $2; exit}')
merge=$(echo "$submitted" | awk '/^merge / {print $2}')
[ -n "$array" ] && [ -n "$merge" ] || { echo "slurm_test: submit.sh printed no job ids" >&2; exit 1; }

# Kill one county task while it runs.
victim=$(/usr/bin/python3 -c "import json,sys; t=json.load(open('$work/plan/tasks.json'))['tasks']; print(t[-1]['index'], t[-1]['code'], t[-1]['mem_mb'], t[-1]['time_min'])")
read -r index code mem_mb time_min <<<"$victim"
killed=""
for _ in $(seq 3000); do
  state=$(squeue -h -o "%i %T" | awk -v id="${array}_${index}" '$1 == id {print $2}')
  if [ "$state" = RUNNING ] && [ -d "$work/plan/tasks/$code" ]; then
    scancel "${array}_${index}"
    killed=yes
    break
  fi
  sleep 0.05
done
[ -n "$killed" ] || { echo "slurm_test: task $index never seen running" >&2; exit 1; }
for _ in $(seq 200); do
  squeue -h -o %i | grep -q "^${array}_${index}$" || break
  sleep 0.1
done
if grep -qs '"status": "done"' "$work/plan/tasks/$code/task.json"; then
  echo "slurm_test: task $index finished before it could be killed" >&2
  exit 1
fi
echo "slurm_test: killed task $index (county $code) mid-way" >&2

# Its merge can never start now: cancel it, run the task again, then merge.
for _ in $(seq 300); do
  others=$(squeue -h -o "%i" | grep -c "^${array}_" || true)
  [ "$others" = 0 ] && break
  sleep 0.2
done
scancel "$merge"
again=$(sbatch --parsable --array="$index" --mem="${mem_mb}M" --time="$time_min" "$work/plan/task.sbatch")
again=${again%%;*}
merge=$(sbatch --parsable --dependency=afterok:"$again" "$work/plan/merge.sbatch")
merge=${merge%%;*}
echo "slurm_test: resubmitted task $index as $again, merge $merge" >&2
for _ in $(seq 1200); do
  squeue -h -o %i | grep -q "^${merge}$" || break
  sleep 0.25
done
[ -f "$work/plan/merged.gpkg" ] || { echo "slurm_test: no merged.gpkg" >&2; exit 1; }
grep -q "merged 4 counties" "$work/plan/logs/merge-$merge.log" || { cat "$work/plan/logs/merge-$merge.log" >&2; exit 1; }

# The merged leads are the local run's.
/usr/bin/python3 - "$work/local/overlay/leads.gpkg" "$work/plan/merged.gpkg" <<'EOF'
import sys
from osgeo import ogr
SKIP = {"SRC_ID", "comp_id", "QSIMG", "HSIMG"}
def leads(path):
    ds = ogr.Open(path)  # the layer lives only as long as its dataset
    layer = ds.GetLayerByName("leads")
    d = layer.GetLayerDefn()
    names = [d.GetFieldDefn(i).GetName() for i in range(d.GetFieldCount())]
    out = {}
    for f in layer:
        fields = {n: f.GetField(n) for n in names if n not in SKIP}
        out[f.GetField("JCBH")] = (fields, f.GetGeometryRef().GetArea())
    return out
local, merged = leads(sys.argv[1]), leads(sys.argv[2])
if sorted(local) != sorted(merged):
    sys.exit(f"lead numbers differ: local {sorted(local)}, merged {sorted(merged)}")
for k, (fields, area) in local.items():
    mf, ma = merged[k]
    if fields != mf or abs(area - ma) > 1e-6 * max(area, 1.0):
        sys.exit(f"lead {k} differs: {fields} vs {mf}")
print(f"slurm_test: merged.gpkg holds the local run's {len(local)} leads", file=sys.stderr)
EOF
echo "slurm_test: passed" >&2
