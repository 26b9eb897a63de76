#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it:
#   1. a warnings-as-errors build and every CTest test (unit + integration);
#   2. the same suite built with AddressSanitizer + UBSan;
#   3. each libFuzzer target for a bounded time on its seed corpus (clang);
#   4. where aarch64-linux-gnu-gcc and qemu-aarch64(-static) exist, the engine
#      and its unit tests cross-built for ARM64 (build-arm64) and run under
#      qemu -cpu max (NEON, dotprod, i8mm): docs/internals/arm64.md.
# Prints a last line "N passed, N failed" counting test binaries and fuzzers.
# Env: JOBS (parallel builds/tests), FUZZ_SECONDS (per target, default 20),
#      SKIP_ASAN=1 / SKIP_FUZZ=1 / SKIP_ARM64=1 to leave a stage out while developing.
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
passed=0
failed=0
failures=()

# count_ctest LOG STAGE: adds the CTest totals of a run to the counters.
count_ctest() {
  local log=$1 stage=$2 line total fails
  line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  if [[ -z $line ]]; then
    failed=$((failed + 1)); failures+=("$stage: ctest did not run"); return
  fi
  fails=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
  passed=$((passed + total - fails)); failed=$((failed + fails))
  ((fails == 0)) || failures+=("$stage: $fails of $total tests failed")
}

# stage NAME BUILD_DIR CMAKE_ARGS...: configure, build, run CTest.
stage() {
  local name=$1 dir=$2; shift 2
  echo "=== $name: build ($dir)"
  if ! cmake -S . -B "$dir" -DRG_WERROR=ON "$@" >"$dir.configure.log" 2>&1; then
    cat "$dir.configure.log"; failed=$((failed + 1)); failures+=("$name: configure failed"); return
  fi
  if ! cmake --build "$dir" -j"$JOBS" >"$dir.build.log" 2>&1; then
    grep -E 'error|Error' -A3 "$dir.build.log" | head -60
    failed=$((failed + 1)); failures+=("$name: build failed"); return
  fi
  echo "=== $name: test"
  (cd "$dir" && "${PGWRAP[@]}" ctest -j"$JOBS" --output-on-failure --timeout 900) 2>&1 | tee "$dir.test.log"
  count_ctest "$dir.test.log" "$name"
}

# The storage and auth tests run against SQLite and a real PostgreSQL: the
# whole CTest run goes under pg_virtualenv (a throwaway cluster; it sets
# PGHOST/PGUSER/PGPASSWORD), and RG_REQUIRE_PG=1 makes those tests fail
# rather than skip if PostgreSQL is somehow not there.
PGWRAP=(env)
if command -v pg_virtualenv >/dev/null; then
  PGWRAP=(pg_virtualenv env RG_REQUIRE_PG=1)
else
  echo "note: pg_virtualenv not found (package postgresql-common): PostgreSQL tests are skipped"
fi

mkdir -p build
stage "default" build -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [[ ${SKIP_ASAN:-0} != 1 ]]; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    stage "asan+ubsan" build-asan -DCMAKE_BUILD_TYPE=Debug -DRG_SANITIZE=ON
fi

if [[ ${SKIP_FUZZ:-0} != 1 ]] && command -v clang >/dev/null; then
  echo "=== fuzz: build (build-fuzz, clang)"
  if CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRG_FUZZ=ON >build-fuzz.configure.log 2>&1 &&
     cmake --build build-fuzz -j"$JOBS" >build-fuzz.build.log 2>&1; then
    for f in build-fuzz/tests/fuzz/fuzz_*; do
      [[ -x $f ]] || continue
      name=$(basename "$f"); name=${name#fuzz_}
      corpus=tests/fuzz/corpus/$name
      work=$(mktemp -d)
      [[ -d $corpus ]] && cp -r "$corpus"/. "$work"/ 2>/dev/null
      echo "=== fuzz: $name for ${FUZZ_SECONDS}s"
      if "$f" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 -print_final_stats=0 "$work" \
           >"build-fuzz/$name.log" 2>&1; then
        passed=$((passed + 1)); echo "fuzz $name: ok"
      else
        failed=$((failed + 1)); failures+=("fuzz $name: crashed (build-fuzz/$name.log)")
        tail -40 "build-fuzz/$name.log"
      fi
      rm -rf "$work"
    done
  else
    tail -40 build-fuzz.build.log 2>/dev/null || cat build-fuzz.configure.log
    failed=$((failed + 1)); failures+=("fuzz: build failed")
  fi
fi

# The aarch64 stage: the engine module alone (RG_ENGINE_ONLY), its CTest run
# under qemu through CMAKE_CROSSCOMPILING_EMULATOR (cmake/toolchain-aarch64.cmake),
# the ../shared/testdata reference-logits tests included. About a minute here
# (53 s on 2 cores: build 13 s, 15 tests 40 s).
if [[ ${SKIP_ARM64:-0} != 1 ]] && command -v aarch64-linux-gnu-gcc >/dev/null &&
   { command -v qemu-aarch64-static >/dev/null || command -v qemu-aarch64 >/dev/null; }; then
  PGWRAP=(env) # no storage tests in the engine
  stage "arm64 (qemu)" build-arm64 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake -DRG_ENGINE_ONLY=ON
else
  echo "note: aarch64-linux-gnu-gcc or qemu-aarch64 not found (make deps): the arm64 stage is skipped"
fi

echo
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed"
((failed == 0))
