#!/usr/bin/env bash
# Installs the Debian packages RustyGPT needs to build, test and run.
# Idempotent and fast when everything is there: asks dpkg first, and calls
# apt-get only for what is missing. Uses sudo when not root.
set -euo pipefail

PKGS=(
  # build
  build-essential cmake pkg-config git
  # libraries (ARCHITECTURE.md: choices already made)
  libmicrohttpd-dev libjansson-dev zlib1g-dev libssl-dev libcurl4-openssl-dev
  libsqlite3-dev libpq-dev libargon2-dev
  # document parsers of the knowledge library (src/index)
  libmd4c-dev libxml2-dev libzip-dev libpoppler-glib-dev libzim-dev
  # the parser tests make their own ZIM and PDF files
  zim-tools ghostscript
  # tests, fuzzing, coverage, lint, benchmarks
  libcmocka-dev clang libclang-rt-14-dev gcovr clang-tidy clang-format cppcheck wrk
  curl procps
  # the connect trace of offline mode (tests/integration/test_connect_trace.sh)
  strace
  # Unicode categories for the tokenizers (read at build time)
  unicode-data
  # a real PostgreSQL for the storage tests (pg_virtualenv)
  postgresql postgresql-common
  # the aarch64 stage of scripts/test.sh: cross compiler and qemu-user (the
  # arm64 libraries come below, once the arm64 architecture is enabled)
  gcc-aarch64-linux-gnu qemu-user-static
)
# arm64 multiarch libraries the engine and its unit tests link (the arm64
# stage of scripts/test.sh, docs/internals/arm64.md)
ARM64_PKGS=(libjansson-dev:arm64 libcmocka-dev:arm64)
# Node.js and npm for the test that drives the server with the official
# openai npm client (tests/sdk). A machine that already has them (from
# another source, npm bundled) keeps its own.
command -v node >/dev/null || PKGS+=(nodejs)
command -v npm >/dev/null || PKGS+=(npm)
# Extra groups, enabled by the caller: DEPS_EXTRA="postgres web"
for extra in ${DEPS_EXTRA:-}; do
  case "$extra" in
    postgres) PKGS+=(postgresql postgresql-common) ;;
    web) PKGS+=(chromium) ;; # the browser tests (web/e2e); Node.js is handled above
  esac
done

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO dpkg --add-architecture arm64
fi
PKGS+=("${ARM64_PKGS[@]}")
missing=()
for p in "${PKGS[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
