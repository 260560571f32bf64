#!/usr/bin/env bash
# Runs each cargo-fuzz target (fuzz/fuzz_targets/) for SECONDS (default 60), all of them unless
# TARGETs are named, one after the other, and prints executions, exec/s and corpus size per target.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]        e.g. nice -n 19 scripts/fuzz.sh 600 json_parse
#
# Each run starts from fuzz/seeds/TARGET (kept in git) and grows fuzz/corpus/TARGET (not kept). A
# finding (panic, failed assertion, timeout, out of memory) lands in fuzz/artifacts/TARGET/ and
# makes the script exit 1 after the other targets have run (libFuzzer's output is in
# fuzz/corpus/TARGET.PID.log); replay one with
#   cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-...
# Needs nightly and cargo-fuzz (scripts/setup.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
[[ $seconds =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2; }
shift $(($# > 0 ? 1 : 0))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

cargo +nightly fuzz build

failed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  dirs=("fuzz/corpus/$t")
  [ -d "fuzz/seeds/$t" ] && dirs+=("fuzz/seeds/$t")
  log="fuzz/corpus/$t.$$.log"
  printf '[fuzz] %s for %ss\n' "$t" "$seconds"
  # -timeout: one input taking over 5 s is a finding too (every parser must stay linear).
  if cargo +nightly fuzz run "$t" "${dirs[@]}" -- \
    -max_total_time="$seconds" -timeout=5 -print_final_stats=1 >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
    grep -E -A20 '^(==[0-9]+==|thread .* panicked|SUMMARY)' "$log" | head -40 >&2 || tail -40 "$log" >&2
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  summary+=("$(printf '%-16s %6ss %12s %9s %8s  %s' "$t" "$seconds" "${execs:-?}" "${rate:-?}" "$corpus" "$status")")
done

printf '\n%-16s %7s %12s %9s %8s  %s\n' target time executions exec/s corpus result
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  printf '[fuzz] findings in: %s (see fuzz/artifacts/ and fuzz/corpus/TARGET.%s.log)\n' "${failed[*]}" $$ >&2
  exit 1
fi
