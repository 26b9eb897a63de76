#!/usr/bin/env bash
# The connect trace of offline mode (issue 17, docs/memory.md "Offline mode").
#
# usage: test_connect_trace.sh default|offline
#
# Starts the real server under `strace -f -e trace=connect` with the
# stories260K model, a library folder and GitHub sign-in configured, runs a
# whole session over loopback with curl (sign-up, sign-in, a kept chat
# answer, a /v1 chat completion, a library upload and search, the web app and
# its assets, the glossary, styles, memory and survival routes where this
# build has them), and in offline mode also a model pull and an OAuth start
# (both must refuse with 503 and code "offline"). Then it fails on any
# connect() the server made to an AF_INET/AF_INET6 address outside loopback
# (127.0.0.0/8, ::1), printing the offending lines: offline, nothing may even
# be tried; by default, nothing may phone home either. AF_UNIX is fine (a
# local nscd, a PostgreSQL socket). It also checks that the web app names no
# external asset and that its Content-Security-Policy allows no other origin.
#
# Environment (CTest sets them): RG_BIN (the rustygpt binary), RG_TESTDATA
# (../shared/testdata). Exit 77: skipped (no strace, no ptrace, no model).
set -uo pipefail

MODE=${1:-default}
case "$MODE" in default | offline) ;; *) echo "usage: $0 default|offline" >&2; exit 2 ;; esac
BIN=${RG_BIN:?RG_BIN: the rustygpt binary}
MODEL=${RG_TESTDATA:-../shared/testdata}/models/stories260K.gguf

skip() { echo "SKIP: $*" >&2; exit 77; }
command -v strace >/dev/null || skip "strace is not installed (scripts/deps.sh installs it)"
command -v curl >/dev/null || skip "curl is not installed"
[[ -r $MODEL ]] || skip "$MODEL is absent"
strace -f -qq -e trace=connect -o /dev/null true 2>/dev/null || skip "strace cannot trace here (ptrace not permitted)"

T=$(mktemp -d /tmp/rg-trace.XXXXXX)
SERVER_PID=
# stops the server (strace's child: strace ends with its tracee)
stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  local child
  child=$(ps -o pid= --ppid "$SERVER_PID" | head -1)
  if [[ -n $child ]]; then kill "$child" 2>/dev/null; else kill "$SERVER_PID" 2>/dev/null; fi
  for _ in $(seq 1 200); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=
}
cleanup() {
  stop_server
  rm -rf "$T"
}
trap cleanup EXIT

FAILS=0
fail() {
  echo "FAIL: $*" >&2
  FAILS=$((FAILS + 1))
}

mkdir -p "$T/data" "$T/models" "$T/lib"
ln -s "$(realpath "$MODEL")" "$T/models/stories260K.gguf"
printf '# Fire\n\nA bow drill makes fire from friction: spindle, board, bow and tinder.\n' >"$T/lib/fire.md"

FLAGS=(serve --host 127.0.0.1 --port 0 --data-dir "$T/data" --models-dir "$T/models"
  --library "$T/lib" --embedding-model test-hash --threads 1 --parallel 1 --ctx-size 512
  --github-client-id trace-test --github-client-secret trace-secret
  --github-authorize-url https://github.com/login/oauth/authorize
  --github-token-url https://github.com/login/oauth/access_token
  --github-api-url https://api.github.com)
[[ $MODE == offline ]] && FLAGS+=(--offline)

# seccomp-bpf stops the server only at connect(), not at every syscall
SECCOMP=()
strace -f --seccomp-bpf -e trace=connect -o /dev/null true 2>/dev/null && SECCOMP=(--seccomp-bpf)
RUSTYGPT_TEST_ROUTES=1 strace -f "${SECCOMP[@]}" -e trace=connect -o "$T/trace" -- \
  "$BIN" "${FLAGS[@]}" 2>"$T/log" &
SERVER_PID=$!

PORT=
for _ in $(seq 1 300); do
  PORT=$(sed -n 's|.*listening on http://[^ ]*:\([0-9][0-9]*\).*|\1|p' "$T/log" | head -1)
  [[ -n $PORT ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
if [[ -z $PORT ]]; then
  cat "$T/log" >&2
  echo "FAIL: the server did not start" >&2
  exit 1
fi
BASE=http://127.0.0.1:$PORT

# ---- the client: curl over loopback -----------------------------------------------------------
TOKEN=
# call METHOD PATH [BODY] [CONTENT-TYPE]: the body in $T/body, the status in $STATUS
call() {
  local args=(-s -o "$T/body" -w '%{http_code}' -X "$1" -H 'Accept: application/json'
    -D "$T/headers" --max-time 120)
  [[ -n $TOKEN ]] && args+=(-H "Authorization: Bearer $TOKEN")
  if [[ $# -ge 3 ]]; then
    args+=(-H "Content-Type: ${4:-application/json}" --data-binary "$3")
  fi
  STATUS=$(curl "${args[@]}" "$BASE$2")
}
# want STATUS METHOD PATH [BODY] [CONTENT-TYPE]: fails unless the reply has that status
want() {
  local w=$1
  shift
  call "$@"
  if [[ $STATUS != "$w" ]]; then
    fail "$1 $2: HTTP $STATUS (wanted $w): $(head -c 300 "$T/body")"
    return 1
  fi
}
# optional METHOD PATH [BODY]: a route another part of issue 17 builds; 404 means not in this build
optional() {
  call "$@"
  case $STATUS in
    404 | 405) echo "note: $1 $2 is not in this build (HTTP $STATUS)" ;;
    2??) ;;
    *) fail "$1 $2: HTTP $STATUS: $(head -c 300 "$T/body")" ;;
  esac
}
# the string value of "key" in $T/body (flat JSON; enough for ids and tokens)
field() { grep -o "\"$1\" *: *\"[^\"]*\"" "$T/body" | head -1 | sed 's/.*: *"\(.*\)"/\1/'; }
number() { grep -o "\"$1\" *: *[0-9][0-9]*" "$T/body" | head -1 | sed 's/.*: *//'; }
# an offline refusal: 503 and code "offline"
refused() {
  call "$@"
  if [[ $STATUS != 503 ]] || ! grep -q '"code" *: *"offline"' "$T/body"; then
    fail "$1 $2 offline: HTTP $STATUS, not a 503 offline refusal: $(head -c 300 "$T/body")"
  fi
}

# ---- the session --------------------------------------------------------------------------------
want 200 GET /healthz
want 200 GET /status && grep -q "\"offline\" *: *$([[ $MODE == offline ]] && echo true || echo false)" "$T/body" ||
  fail "/status does not say offline: $([[ $MODE == offline ]] && echo true || echo false)"

CRED='{"email":"trace@example.org","password":"correct horse battery"}'
want 202 POST /auth/register "$CRED"
want 200 POST /auth/login "$CRED"
TOKEN=$(field access_token)
[[ -n $TOKEN ]] || fail "no access token from /auth/login"
want 200 GET /auth/me
want 200 GET /auth/providers

# the web app: every asset index.html names is ours, and the CSP allows only this origin
want 200 GET /
CSP=$(grep -i '^content-security-policy:' "$T/headers" | cut -d: -f2- | tr -d '\r')
cp "$T/body" "$T/index.html"
check_csp() { # check_csp WHERE POLICY
  [[ -n $2 ]] || { fail "$1: no Content-Security-Policy header"; return; }
  grep -q "default-src" <<<"$2" || fail "$1: the CSP has no default-src: $2"
  local tok
  for tok in $(tr ';' ' ' <<<"$2"); do
    case $tok in
      *-src | *-ancestors | base-uri | form-action | "'self'" | "'none'" | "'unsafe-inline'" | data:) ;;
      *) fail "$1: the CSP allows '$tok' (only 'self', 'none', 'unsafe-inline' and data: may appear): $2" ;;
    esac
  done
}
check_csp "GET /" "$CSP"
EXTERNAL='((src|href|action|poster|srcset)[[:space:]]*[=:][[:space:]]*["'"'"'`]?[[:space:]]*(https?:)?//|url\([[:space:]]*["'"'"']?[[:space:]]*(https?:)?//|@import[[:space:]]*(url\()?[[:space:]]*["'"'"']?(https?:)?//|(import|from)[[:space:]]*\(?[[:space:]]*["'"'"'`](https?:)?//|fetch\([[:space:]]*["'"'"'`](https?:)?//)'
scan_asset() { # scan_asset NAME FILE
  local hits
  hits=$(grep -oE "$EXTERNAL[^\"'\`) ]*" "$2" | head -5)
  [[ -z $hits ]] || fail "$1 loads an external asset: $hits"
}
scan_asset / "$T/index.html"
for a in $(grep -oE '(src|href)="/[^"]*"' "$T/index.html" | sed 's/.*="\(.*\)"/\1/' | sort -u); do
  if want 200 GET "$a"; then scan_asset "$a" "$T/body"; fi
done
want 200 GET /docs && check_csp "GET /docs" "$(grep -i '^content-security-policy:' "$T/headers" | cut -d: -f2- | tr -d '\r')"

# a kept conversation and its answer
want 201 POST /chat/conversations '{"title":"trace","model":"stories260K"}'
CONV=$(number id)
want 200 POST "/chat/conversations/$CONV/messages" \
  '{"content":"Once upon a time","stream":false,"settings":{"max_tokens":8,"seed":1}}' &&
  { grep -q '"role" *: *"assistant"' "$T/body" || fail "no assistant message in the kept answer: $(head -c 300 "$T/body")"; }
want 200 GET "/chat/conversations/$CONV"
want 200 GET /chat/conversations

# an OpenAI-style completion
want 200 POST /v1/chat/completions \
  '{"model":"stories260K","messages":[{"role":"user","content":"Once"}],"max_tokens":8,"seed":1}' &&
  { grep -q '"choices"' "$T/body" || fail "no choices in /v1/chat/completions"; }
want 200 GET /v1/models

# the library: an upload, its indexing, a search that finds it
want 201 POST "/library/documents?name=water.md" \
  $'# Water\n\nBoil water for one minute to make it safe to drink; filter it through cloth first.\n' \
  text/markdown
DOC=$(number id)
for _ in $(seq 1 300); do
  want 200 GET "/library/documents/$DOC" || break
  state=$(field state)
  [[ $state == ready || $state == error ]] && break
  sleep 0.2
done
[[ ${state:-} == ready ]] || fail "the uploaded document did not get indexed (state ${state:-?})"
want 200 GET "/search?q=boil" && { grep -q 'water' "$T/body" || fail "/search?q=boil did not find water.md"; }
want 200 GET "/search?q=boil%20water&mode=hybrid"
want 200 GET /library/collections
want 200 GET /library/documents
want 200 GET /library/status

# the rest of issue 17 where this build has it
optional GET /chat/styles
optional GET /chat/glossary
optional POST /chat/glossary '{"term":"tinder","definition":"dry material that catches a spark"}'
optional GET /chat/memory
optional GET "/chat/messages/1/context"
optional GET /survival/categories
optional GET "/survival/search?q=water"
want 200 GET /jobs
want 200 GET /admin/users
want 200 GET /admin/network && grep -q "\"offline\" *: *$([[ $MODE == offline ]] && echo true || echo false)" "$T/body" ||
  fail "GET /admin/network does not say the mode"

# The control: a pull from this server itself makes the `rustygpt pull`
# child connect to 127.0.0.1:PORT, which the trace must show by default
# (the tracer follows the server's children) and must not show offline (the
# refusal comes before any socket). Whether the "model" is one is not asked.
CONTROL="{\"model\":\"http://127.0.0.1:$PORT/control/tiny.gguf\",\"stream\":false}"
if [[ $MODE == offline ]]; then
  refused POST /api/pull "$CONTROL"
  # what would reach the network: refused, before any name lookup or socket
  refused POST /api/pull '{"model":"https://models.example.org/tiny.gguf","stream":false}'
  refused POST /api/pull '{"model":"hf:owner/repo/tiny.gguf","stream":false}'
  refused GET /auth/oauth/github/start
  want 200 GET /auth/providers && { grep -q '"github" *: *false' "$T/body" || fail "offline, /auth/providers still offers GitHub"; }
  want 200 GET /admin/network
  n=$(number refused)
  [[ ${n:-0} -ge 3 ]] || fail "GET /admin/network counted ${n:-0} refusals, wanted at least 3"
else
  # the OAuth start is a redirect for the browser; the server itself connects nowhere
  want 302 GET /auth/oauth/github/start
  want 200 POST /api/pull "$CONTROL"
fi

# ---- the verdict ----------------------------------------------------------------------------------
stop_server

[[ -s $T/trace ]] || { echo "FAIL: strace wrote no trace" >&2; exit 1; }
total=$(grep -c 'connect(' "$T/trace" || true)
bad=()
while IFS= read -r line; do
  addr=
  case $line in
    *sa_family=AF_INET6*) addr=$(sed -n 's/.*inet_pton(AF_INET6, "\([^"]*\)".*/\1/p' <<<"$line") ;;
    *sa_family=AF_INET,*) addr=$(sed -n 's/.*inet_addr("\([^"]*\)").*/\1/p' <<<"$line") ;;
    *) continue ;; # AF_UNIX, AF_UNSPEC (a UDP socket's disconnect), AF_NETLINK
  esac
  case $addr in
    127.* | ::1 | ::ffff:127.*) ;;
    *) bad+=("$line") ;;
  esac
done < <(grep 'connect(' "$T/trace")

echo "connect trace ($MODE): $total connect() calls, ${#bad[@]} outside loopback"
control=$(grep -c "connect(.*htons($PORT).*inet_addr(\"127\.0\.0\.1\")" "$T/trace" || true)
if [[ $MODE == default && $control -eq 0 ]]; then
  fail "the trace shows no connect of the control pull to 127.0.0.1:$PORT: the tracer sees nothing"
elif [[ $MODE == offline && $control -ne 0 ]]; then
  fail "offline, the control pull still connected to 127.0.0.1:$PORT"
fi
if ((${#bad[@]} > 0)); then
  fail "connect() outside loopback in $MODE mode:"
  printf '  %s\n' "${bad[@]}" >&2
fi
if ((FAILS > 0)); then
  echo "--- server log (tail) ---" >&2
  tail -n 40 "$T/log" >&2
  echo "$FAILS failure(s)" >&2
  exit 1
fi
echo "PASS: connect trace, $MODE mode"
