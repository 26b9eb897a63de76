#!/usr/bin/env bash
# clang-format check, clang-tidy (on the compile database) and cppcheck.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
rc=0
files=$(find src tests tools -name '*.[ch]' | sort)
echo "== clang-format"
if ! clang-format --dry-run --Werror $files; then rc=1; fi
echo "== clang-tidy"
if ! clang-tidy -p "$build" --quiet $(grep -l . $(find src -name '*.c')) 2>/dev/null; then rc=1; fi
echo "== cppcheck"
if ! cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
     --suppress=missingIncludeSystem -I src src; then rc=1; fi
exit $rc
