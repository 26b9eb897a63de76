#!/usr/bin/env bash
# `make bench`: measures the HTTP server and the engine on this machine and
# writes bench/RESULTS.md (machine, date, tables). Each part can run alone:
#   BENCH_ONLY=http|engine|serve|auth|web|grammar|conv|library|library-index   one part only (the other sections
#                            keep what bench/RESULTS.md already says)
#   BENCH_PP=512 BENCH_TG=128 BENCH_THREADS=2   engine sizes
#   BENCH_DURATION=10        seconds per wrk run
#   LLAMA_CPP_DIR=/path/to/llama.cpp/build/bin   llama-bench for comparison
#   BENCH_MODELS="tinyllama-1.1b:Q4_0 ..."       preset:type pairs to generate
# Results go to bench/RESULTS.md; raw outputs to build/bench/.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
BIN=$BUILD/rustygpt
GEN=$BUILD/gguf_gen
OUT=$BUILD/bench
MODELS=$ROOT/bench/models
RESULTS=${BENCH_RESULTS:-$ROOT/bench/RESULTS.md}
ONLY=${BENCH_ONLY:-all}
PP=${BENCH_PP:-512}
TG=${BENCH_TG:-128}
THREADS=${BENCH_THREADS:-2}
DURATION=${BENCH_DURATION:-10}
# wrk runs on this same machine: by default the server gets one HTTP thread so
# that server and client each have a core, as they would on separate machines.
HTTP_THREADS=${BENCH_HTTP_THREADS:-1}
LLAMA_CPP_DIR=${LLAMA_CPP_DIR:-/tmp/llama.cpp/build/bin}
BENCH_MODELS=${BENCH_MODELS:-"tinyllama-1.1b:Q4_0 tinyllama-1.1b:Q8_0 tinyllama-1.1b:Q4_K_M tinyllama-1.1b:Q5_K_M smollm2-135m:Q8_0"}

mkdir -p "$OUT" "$MODELS"
http_md=$OUT/http.md
engine_md=$OUT/engine.md
auth_md=$OUT/auth.md
web_md=$OUT/web.md
grammar_md=$OUT/grammar.md
conv_md=$OUT/conv.md
library_md=$OUT/library.md
libidx_md=$OUT/library-index.md
# Parts not run this time keep their section from the previous RESULTS.md.
PREV=$(mktemp)
[[ -s $RESULTS ]] && cp "$RESULTS" "$PREV"
prev_section() { # "## Title" → the body that followed it last time, or "(not run)"
  local body
  body=$(awk -v h="$1" '$0 == h {on=1; next} /^## / {on=0} on' "$PREV" | sed -e '1{/^$/d}')
  if [[ -n $body ]]; then printf '%s\n' "$body" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'; else echo "(not run)"; fi
}

log() { echo "bench: $*" >&2; }

machine() {
  local cpu cores mem
  cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
  cores=$(nproc)
  mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
  local flags=""
  for f in avx2 fma f16c avx512f avx512_vnni avx512_bf16; do
    grep -qw "$f" /proc/cpuinfo && flags+="$f "
  done
  echo "- CPU: $cpu ($cores cores available; ISA: ${flags% })"
  echo "- RAM: $mem"
  echo "- OS: $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
  echo "- Compiler: $(cc --version | head -1)"
  echo "- RustyGPT: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
}

# start_rg DATA_DIR LOG: starts our server on a free port in the background;
# sets pid and port, or returns 1 (the log says why).
start_rg() {
  "$BIN" serve --port 0 --http-threads "$HTTP_THREADS" --data-dir "$1" --models-dir "$1" --log-level error \
    2>"$2" &
  pid=$!
  port=""
  for _ in $(seq 100); do
    port=$(sed -n 's|.*listening on http://[^:]*:\([0-9]*\).*|\1|p' "$2" | head -1)
    [[ -n $port ]] && return 0
    sleep 0.1
  done
  log "server did not start: $(cat "$2")"
  kill "$pid" 2>/dev/null || true
  return 1
}

# ---- HTTP: wrk against small JSON replies ----
bench_http() {
  command -v wrk >/dev/null || { log "wrk missing (make deps installs it)"; return 1; }
  [[ -x $BIN ]] || { log "$BIN missing: make build first"; return 1; }
  local data port pid errlog
  data=$(mktemp -d)
  errlog=$OUT/serve.log
  if ! start_rg "$data" "$errlog"; then
    rm -rf "$data"
    return 1
  fi
  {
    echo "| Route | Connections | Requests/s | p50 | p99 | Errors |"
    echo "| --- | --- | --- | --- | --- | --- |"
  } >"$http_md"
  for route in /healthz /status; do
    for conns in 64; do
      local raw=$OUT/wrk${route//\//_}_c$conns.txt
      wrk -t2 -c"$conns" -d"${DURATION}s" --latency "http://127.0.0.1:$port$route" >"$raw" 2>&1 || true
      local rps p50 p99 errs
      rps=$(awk '/Requests\/sec/ {print $2}' "$raw")
      p50=$(awk '$1=="50%" {print $2}' "$raw")
      p99=$(awk '$1=="99%" {print $2}' "$raw")
      errs=$(awk '/Non-2xx|Socket errors/ {sub(/^ +/, ""); printf "%s; ", $0}' "$raw")
      echo "| GET $route | $conns | ${rps:-?} | ${p50:-?} | ${p99:-?} | ${errs:-none} |" >>"$http_md"
      log "http $route c=$conns: ${rps:-?} req/s, p99 ${p99:-?}"
    done
  done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$data"
}

# ---- engine: random-weight models of real shapes ----
gen_model() { # preset type → path
  local preset=$1 type=$2 f=$MODELS/$1-$2.gguf
  if [[ ! -s $f ]]; then
    log "writing $f"
    "$GEN" --arch llama --preset "$preset" --type "$type" --seed 1 -o "$f.tmp" >&2 && mv "$f.tmp" "$f"
  fi
  echo "$f"
}

json_field() { # json key
  sed -n "s/.*\"$2\": *\([0-9.]*\).*/\1/p" <<<"$1" | head -1
}

bench_engine() {
  {
    echo "Prompt processing (pp$PP) and generation (tg$TG) with $THREADS threads, tokens/s."
    echo
    echo "| Model | Size | RustyGPT pp$PP | RustyGPT tg$TG | Peak RSS | llama.cpp pp$PP | llama.cpp tg$TG | pp ratio | tg ratio |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  } >"$engine_md"
  if [[ ! -x $GEN ]]; then
    log "$GEN missing: cannot write the benchmark models"
    echo "| (not run: tools/gguf_gen is not built) | | | | | | | | |" >>"$engine_md"
    return 0
  fi
  local have_bench=0 have_llama=0
  "$BIN" bench --help >/dev/null 2>&1 && have_bench=1
  [[ -x $LLAMA_CPP_DIR/llama-bench ]] && have_llama=1
  ((have_bench)) || log "rustygpt bench is not built yet: skipping our numbers"
  ((have_llama)) || log "no llama-bench at $LLAMA_CPP_DIR: skipping the comparison"
  for spec in $BENCH_MODELS; do
    local preset=${spec%%:*} type=${spec##*:} f size
    if ! f=$(gen_model "$preset" "$type"); then
      echo "| $preset $type | (gguf_gen failed) | | | | | | | |" >>"$engine_md"
      continue
    fi
    size=$(du -hL "$f" | cut -f1)
    local pp="-" tg="-" rss="-" lpp="-" ltg="-" rpp="-" rtg="-"
    if ((have_bench)); then
      local j
      if j=$("$BIN" bench -m "$f" -p "$PP" -n "$TG" -t "$THREADS" --json 2>"$OUT/bench-$preset-$type.err"); then
        echo "$j" >"$OUT/bench-$preset-$type.json"
        pp=$(json_field "$j" pp_tok_s)
        tg=$(json_field "$j" tg_tok_s)
        rss="$(json_field "$j" peak_rss_mb) MB"
      else
        pp="error"
        log "rustygpt bench failed on $f: $(tail -1 "$OUT/bench-$preset-$type.err")"
      fi
    fi
    if ((have_llama)); then
      local lj
      if lj=$("$LLAMA_CPP_DIR/llama-bench" -m "$f" -p "$PP" -n "$TG" -t "$THREADS" -o jsonl 2>"$OUT/llama-$preset-$type.err"); then
        echo "$lj" >"$OUT/llama-$preset-$type.jsonl"
        # one JSON object per line: the pp line has "n_gen": 0, the tg line "n_prompt": 0
        lpp=$(grep '"n_gen": *0[,}]' <<<"$lj" | sed -n 's/.*"avg_ts": *\([0-9.]*\).*/\1/p' | head -1)
        ltg=$(grep '"n_prompt": *0[,}]' <<<"$lj" | sed -n 's/.*"avg_ts": *\([0-9.]*\).*/\1/p' | head -1)
        lpp=$(awk -v x="${lpp:--}" 'BEGIN { if (x == "-") print "-"; else printf "%.2f", x }')
        ltg=$(awk -v x="${ltg:--}" 'BEGIN { if (x == "-") print "-"; else printf "%.2f", x }')
      else
        lpp="error"
      fi
    fi
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2fx", a/b; else print "-" }'; }
    rpp=$(ratio "$pp" "$lpp")
    rtg=$(ratio "$tg" "$ltg")
    echo "| $preset $type | $size | $pp | $tg | $rss | $lpp | $ltg | $rpp | $rtg |" >>"$engine_md"
    log "engine $preset $type: pp $pp tg $tg (llama.cpp pp $lpp tg $ltg)"
  done
  if ((have_llama)); then
    echo >>"$engine_md"
    echo "llama.cpp: llama-bench from ${LLAMA_CPP_DESC:-$LLAMA_CPP_DIR} (same files, -t $THREADS, default 5 repetitions)." >>"$engine_md"
  fi
}

# ---- serving: concurrent streaming clients on one model (continuous batching) ----
# tools/serve_bench drives any OpenAI-compatible server; ours and, when
# present, llama.cpp's llama-server run on the same file with the same threads.
serve_md=$OUT/serve.md
turn_md=$OUT/turn.md
SERVE_TOKENS=${BENCH_SERVE_TOKENS:-64}
SERVE_CLIENTS=${BENCH_SERVE_CLIENTS:-"1 4 16"}
TESTDATA=${RG_TESTDATA:-$ROOT/../shared/testdata}

wait_port() { # log-file regex → port
  local port=""
  for _ in $(seq 300); do
    port=$(sed -n "s|.*$2[^0-9]*\([0-9][0-9]*\).*|\1|p" "$1" | head -1)
    [[ -n $port ]] && break
    sleep 0.2
  done
  echo "$port"
}

serve_runs() { # label url model
  local label=$1 url=$2 model=$3 n j
  "$BUILD/serve_bench" --url "$url" --model "$model" --clients 1 --tokens 4 >/dev/null || return 1
  for n in $SERVE_CLIENTS; do
    j=$("$BUILD/serve_bench" --url "$url" --model "$model" --clients "$n" --tokens "$SERVE_TOKENS") || return 1
    echo "$j" >"$OUT/serve-$label-$n.json"
    echo "| $label | $n | $SERVE_TOKENS | $(json_field "$j" aggregate_tok_s) | $(json_field "$j" ttft_p50_ms) | $(json_field "$j" ttft_p99_ms) |" >>"$serve_md"
    log "serve $label: $n clients: $(json_field "$j" aggregate_tok_s) tok/s"
  done
  j=$("$BUILD/serve_bench" --url "$url" --model "$model" --second-turn 1500) || return 1
  echo "$j" >"$OUT/turn-$label.json"
  echo "| $label | $(json_field "$j" ttft_first_ms) | $(json_field "$j" ttft_second_ms) | $(json_field "$j" second_over_first) |" >>"$turn_md"
  log "serve $label: second turn $(json_field "$j" second_over_first) of the first"
}

bench_serve() {
  [[ -x $BUILD/serve_bench ]] || { log "$BUILD/serve_bench missing: make build first"; return 1; }
  # TinyLlama's shapes and, when the reference data is there, its real
  # vocabulary, so that prompts have realistic token counts
  local f=$MODELS/tinyllama-1.1b-Q4_0-spm.gguf vocab=$TESTDATA/vocab/ggml-vocab-llama-spm.gguf
  if [[ ! -s $f ]]; then
    if [[ -s $vocab ]]; then
      log "writing $f"
      "$GEN" --arch llama --preset tinyllama-1.1b --type Q4_0 --seed 1 --vocab "$vocab" -o "$f.tmp" >&2 &&
        mv "$f.tmp" "$f"
    else
      f=$(gen_model tinyllama-1.1b Q4_0) || return 1
    fi
  fi
  {
    echo "| Server | Concurrent clients | Tokens each | Aggregate tokens/s | TTFT p50 ms | TTFT p99 ms |"
    echo "| --- | --- | --- | --- | --- | --- |"
  } >"$serve_md"
  {
    echo "| Server | First turn TTFT ms | Second turn TTFT ms | Second / first |"
    echo "| --- | --- | --- | --- |"
  } >"$turn_md"
  local data pid port errlog=$OUT/serve-engine.log
  data=$(mktemp -d)
  mkdir -p "$data/models"
  ln -s "$f" "$data/models/tl.gguf"
  "$BIN" serve --port 0 --parallel 16 --ctx-size 2048 --threads "$THREADS" --log-level error \
    --data-dir "$data/d" --models-dir "$data/models" 2>"$errlog" &
  pid=$!
  port=$(wait_port "$errlog" "listening on http://[^:]*:")
  if [[ -n $port ]]; then
    serve_runs "RustyGPT (--parallel 16)" "http://127.0.0.1:$port" tl || log "serve: rustygpt runs failed"
  else
    log "server did not start: $(cat "$errlog")"
  fi
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [[ -x $LLAMA_CPP_DIR/llama-server ]]; then
    local np
    for np in 4 16; do
      errlog=$OUT/llama-server-$np.log
      "$LLAMA_CPP_DIR/llama-server" -m "$f" --host 127.0.0.1 --port $((18700 + np)) -t "$THREADS" -np "$np" \
        -c $((2048 * np)) >"$errlog" 2>&1 &
      pid=$!
      port=$(wait_port "$errlog" "server is listening on http://[^:]*:")
      if [[ -n $port ]]; then
        serve_runs "llama-server (-np $np)" "http://127.0.0.1:$port" tl || log "serve: llama-server runs failed"
      else
        log "llama-server did not start: $(tail -5 "$errlog")"
      fi
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    done
  else
    log "no llama-server at $LLAMA_CPP_DIR: skipping the serving comparison"
  fi
  rm -rf "$data"
}

# ---- accounts: token checks per core, argon2 sign-in cost, and over HTTP ----
bench_auth() {
  [[ -x $BUILD/auth_bench && -x $BIN ]] || { log "auth_bench or rustygpt missing: make build first"; return 1; }
  local j data port pid errlog tok
  j=$("$BUILD/auth_bench")
  {
    echo "tools/auth_bench on one core: access-token (JWT, HS256) checks, which every signed-in request"
    echo "pays; argon2id verifications (m=19 MiB, t=2, p=1), which each sign-in pays and which bound"
    echo "sign-in throughput by design; API-key hashing (SHA-256 + constant-time compare, before the lookup)."
    echo "Goal: at least 50,000 token checks/s on one core."
    echo
    echo "| Check | Per second (one core) | Each |"
    echo "| --- | --- | --- |"
    echo "| access token (JWT) | $(json_field "$j" jwt_verify_per_s) | |"
    echo "| argon2id password | $(json_field "$j" argon2_verify_per_s) | $(json_field "$j" argon2_ms) ms |"
    echo "| API-key hash | $(json_field "$j" apikey_hash_per_s) | |"
    echo "| access token, whole check (JWT + current role and session, cached 2 s) | $(json_field "$j" bearer_check_per_s) | |"
    echo "| token state read (a cache miss, SQLite) | $(json_field "$j" token_state_read_per_s) | |"
  } >"$auth_md"
  log "auth: $j"
  command -v wrk >/dev/null || return 0
  data=$(mktemp -d)
  errlog=$OUT/serve-auth.log
  if start_rg "$data" "$errlog"; then
    curl -s -o /dev/null -H 'Content-Type: application/json' \
      -d '{"email":"bench@example.com","password":"bench password 1"}' \
      "http://127.0.0.1:$port/auth/register"
    tok=$(curl -s -H 'Content-Type: application/json' \
      -d '{"email":"bench@example.com","password":"bench password 1"}' \
      "http://127.0.0.1:$port/auth/login" | sed -n 's/.*"access_token": *"\([^"]*\)".*/\1/p')
    {
      echo
      echo "Over HTTP (wrk, 64 connections, ${DURATION}s, --http-threads $HTTP_THREADS, SQLite):"
      echo
      echo "| Route | Requests/s | p50 | p99 | Errors |"
      echo "| --- | --- | --- | --- | --- |"
    } >>"$auth_md"
    for route in /v1/models /auth/me; do
      local raw=$OUT/wrk_auth${route//\//_}.txt rps p50 p99 errs
      wrk -t2 -c64 -d"${DURATION}s" --latency -H "Authorization: Bearer $tok" "http://127.0.0.1:$port$route" \
        >"$raw" 2>&1 || true
      rps=$(awk '/Requests\/sec/ {print $2}' "$raw")
      p50=$(awk '$1=="50%" {print $2}' "$raw")
      p99=$(awk '$1=="99%" {print $2}' "$raw")
      errs=$(awk '/Non-2xx|Socket errors/ {sub(/^ +/, ""); printf "%s; ", $0}' "$raw")
      echo "| GET $route with an access token | ${rps:-?} | ${p50:-?} | ${p99:-?} | ${errs:-none} |" >>"$auth_md"
      log "auth http $route: ${rps:-?} req/s"
    done
    echo >>"$auth_md"
    echo "/v1/models checks the token only; /auth/me also reads the account from the database." >>"$auth_md"
  fi
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$data"
}

# ---- constrained output: the vocabulary trie walk against the brute-force scans ----
bench_grammar() {
  local vocab=${BENCH_GRAMMAR_VOCAB:-$ROOT/../shared/testdata/vocab/ggml-vocab-deepseek-llm.gguf}
  [[ -x $BUILD/grammar_bench ]] || { log "grammar_bench missing: make build first"; return 1; }
  [[ -s $vocab ]] || { log "$vocab missing: skipping constrained output"; return 1; }
  {
    echo "tools/grammar_bench on one core: the time to decide which tokens may come next under a"
    echo "response_format schema, at states reached by feeding the start of a document. rg_jg_mask walks"
    echo "a trie of every token's bytes (shared prefixes fed once, rejected prefixes pruned); the scans"
    echo "feed every token's bytes from a copy of the state, the second only for tokens whose first byte"
    echo "the state accepts (what the scheduler did before). The figures agree token for token; each"
    echo "time is the fastest of 40 runs (mask) or 10 runs (scans)."
    echo "Run on $(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')."
    echo
    "$BUILD/grammar_bench" --vocab "$vocab"
  } >"$grammar_md" || return 1
  log "grammar: $(tail -1 "$grammar_md")"
}

# ---- kept conversations: list and search on SQLite with a heavy user's history ----
bench_conv() {
  [[ -x $BUILD/conv_bench ]] || { log "conv_bench missing: make build first"; return 1; }
  local j
  j=$("$BUILD/conv_bench") || return 1
  echo "$j" >"$OUT/conv.json"
  {
    echo "tools/conv_bench: an SQLite database with $(json_field "$j" conversations) conversations and"
    echo "$(json_field "$j" messages) messages of one user (10 a conversation, about 40 words each from a"
    echo "Zipf vocabulary) and $(json_field "$j" other_user_messages) of another user's, then $(json_field "$j" calls) calls of each query"
    echo "through rg_db_conv_list (one connection, warm cache). The common word is in nearly every"
    echo "message; the rare one in five. Goal: p99 under 50 ms."
    echo "Run on $(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')."
    echo
    echo "| Query | p50 | p99 | Rows |"
    echo "| --- | --- | --- | --- |"
    echo "| list, first page (limit 50) | $(json_field "$j" list_first_p50_ms) ms | $(json_field "$j" list_first_p99_ms) ms | 50 |"
    echo "| list, page 20 (offset 950) | $(json_field "$j" list_page20_p50_ms) ms | $(json_field "$j" list_page20_p99_ms) ms | 50 |"
    echo "| search, common word | $(json_field "$j" search_common_p50_ms) ms | $(json_field "$j" search_common_p99_ms) ms | $(json_field "$j" search_common_hits) |"
    echo "| search, rare word | $(json_field "$j" search_rare_p50_ms) ms | $(json_field "$j" search_rare_p99_ms) ms | $(json_field "$j" search_rare_hits) |"
  } >"$conv_md"
  log "conv: $j"
}

# ---- the knowledge library: search latency on SQLite at 100k (and 1M) chunks ----
# BENCH_LIBRARY_SIZES="100000 1000000" the corpus sizes; BENCH_LIBRARY_HNSW_MAX the largest
# size whose HNSW graph is built (the build is single-threaded: about 1-2 ms a vector here).
bench_library() {
  [[ -x $BUILD/library_bench ]] || { log "library_bench missing: make build first"; return 1; }
  local sizes=${BENCH_LIBRARY_SIZES:-"100000"} hmax=${BENCH_LIBRARY_HNSW_MAX:-100000} j n flag hb
  {
    echo "tools/library_bench: an SQLite database of N chunks of one user (documents of 1,000"
    echo "chunks, 50-70 words each from a Zipf vocabulary of 20,000), each with a 384-dimension f32"
    echo "embedding (bge-small's shape; clustered random vectors), then 200 queries of each kind:"
    echo "full-text for a frequent word then a mid-frequency one (limit 20; the last word is a prefix, as"
    echo "typed) and the other way round (the frequent word as the prefix), vector top-20 (exact"
    echo "scan of f16 vectors, and HNSW with ef 64), hybrid (rg_search, limit 10: both lists at depth 50,"
    echo "fused by reciprocal rank). The embedder hands out a precomputed query vector, so"
    echo "embedding time is not counted. Goal: hybrid p99 under 50 ms at 1M chunks on 2 cores."
    echo "Run on $(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')."
    echo
    echo "| Chunks | Full-text p50 / p99 | Full-text, frequent prefix | Vector exact p50 / p99 | Vector HNSW p50 / p99 (recall@10) | Hybrid exact p50 / p99 | Hybrid HNSW p50 / p99 | Index memory (graph) | HNSW build |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  } >"$library_md"
  for n in $sizes; do
    flag=""
    ((n > hmax)) && flag="--no-hnsw"
    j=$("$BUILD/library_bench" --chunks "$n" $flag) || return 1
    echo "$j" >"$OUT/library-$n.json"
    log "library $n: $j"
    local hn="not built" hh="-" mem
    mem="$(($(json_field "$j" index_bytes) / 1048576)) MiB"
    if [[ -z $flag ]]; then
      hn="$(json_field "$j" vec_hnsw_p50_ms) / $(json_field "$j" vec_hnsw_p99_ms) ms ($(json_field "$j" hnsw_recall10))"
      hh="$(json_field "$j" hybrid_hnsw_p50_ms) / $(json_field "$j" hybrid_hnsw_p99_ms) ms"
      mem="$(($(json_field "$j" hnsw_bytes) / 1048576)) MiB ($(($(json_field "$j" graph_bytes) / 1048576)) MiB)"
      hb="$(json_field "$j" hnsw_build_s) s"
    else
      hb="-"
    fi
    echo "| $n | $(json_field "$j" fts_p50_ms) / $(json_field "$j" fts_p99_ms) ms | $(json_field "$j" fts_prefix_common_p50_ms) / $(json_field "$j" fts_prefix_common_p99_ms) ms | $(json_field "$j" vec_exact_p50_ms) / $(json_field "$j" vec_exact_p99_ms) ms | $hn | $(json_field "$j" hybrid_exact_p50_ms) / $(json_field "$j" hybrid_exact_p99_ms) ms | $hh | $mem | $hb |" >>"$library_md"
  done
}

# ---- library indexing: parse + chunk, and chunks embedded by a bge-small-shaped encoder ----
# `rustygpt index add` on a generated Markdown corpus, first without an embedding model
# (parse + chunk + store: MB/s), then with a random-weight bert GGUF of bge-small-en-v1.5's
# shape (384 wide, 12 layers, 12 heads, FFN 1536): chunks/s embedded is the second run's
# chunks over its time minus the first run's.
bench_library_index() {
  [[ -x $BIN && -x $GEN ]] || { log "rustygpt or gguf_gen missing: make build first"; return 1; }
  local dir words=${BENCH_LIB_WORDS:-6000} t0 t1 t2 chunks bytes model=$MODELS/bge-small-shape-F16.gguf
  dir=$(mktemp -d)
  if [[ ! -s $model ]]; then
    log "writing $model"
    "$GEN" --arch bert --n-embd 384 --n-layer 12 --n-head 12 --n-ff 1536 --n-vocab 30522 --ctx 512 \
      --type F16 --seed 1 -o "$model.tmp" >&2 && mv "$model.tmp" "$model"
  fi
  awk -v n="$words" 'BEGIN { srand(7); split("river stone light field winter north story water " \
      "garden letter mountain city road voice window morning forest harbour", w, " ");
    for (i = 0; i < n; i++) { if (i % 2000 == 0) printf "\n\n# Chapter %d\n\n", i / 2000 + 1;
      else if (i % 120 == 0) printf ".\n\n"; printf "%s ", w[int(rand() * 18) + 1] } print "" }' \
    >"$dir/corpus.md"
  bytes=$(stat -c %s "$dir/corpus.md")
  echo "correct horse battery" | "$BIN" user add bench@example.com --password-stdin --data-dir "$dir/a" >/dev/null
  echo "correct horse battery" | "$BIN" user add bench@example.com --password-stdin --data-dir "$dir/b" >/dev/null
  t0=$(date +%s.%N)
  "$BIN" index add "$dir/corpus.md" --data-dir "$dir/a" >"$OUT/libidx-plain.txt" 2>/dev/null || { rm -rf "$dir"; return 1; }
  t1=$(date +%s.%N)
  "$BIN" index add "$dir/corpus.md" --data-dir "$dir/b" --embedding-model bge-small-shape-F16 \
    --models-dir "$MODELS" >"$OUT/libidx-embed.txt" 2>/dev/null || { rm -rf "$dir"; return 1; }
  t2=$(date +%s.%N)
  chunks=$(awk -F'\t' '{ split($4, a, " "); print a[1] }' "$OUT/libidx-embed.txt")
  {
    echo "\`rustygpt index add\` (in process, SQLite) on a generated Markdown file of $words words"
    echo "($((bytes / 1024)) KiB, 256-token chunks with 32 of overlap), $(nproc) cores; the embedding run uses a"
    echo "random-weight bert GGUF of bge-small-en-v1.5's shape (384 x 12 layers, F16) from tools/gguf_gen."
    echo "Each run is one process: its start and the database's creation count (they dominate the"
    echo "plain run of a small file). Chunks/s embedded = chunks / (embedding run - plain run)."
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (a shared machine). llama.cpp's llama-embedding on the"
    echo "same file: not measured here (LLAMA_CPP_DIR has no llama-embedding run in this script yet)."
    echo "Run on $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo
    echo "| Run | Time | Throughput |"
    echo "| --- | --- | --- |"
    awk -v a="$t0" -v b="$t1" -v c="$t2" -v by="$bytes" -v ch="$chunks" 'BEGIN {
      printf "| parse + chunk + store (no model) | %.2f s | %.2f MB/s |\n", b - a, by / 1e6 / (b - a);
      printf "| + embed %d chunks (bge-small shape) | %.2f s | %.1f chunks/s |\n", ch, c - b, ch / ((c - b) - (b - a)) }'
  } >"$libidx_md"
  log "library-index: $(tail -1 "$libidx_md")"
  rm -rf "$dir"
}
cat_libidx() { cat "$libidx_md"; }

cat_auth() { cat "$auth_md"; }
cat_conv() { cat "$conv_md"; }
cat_library() { cat "$library_md"; }
cat_grammar() { cat "$grammar_md"; }
cat_web() { cat "$web_md"; }

# ---- the web app: its size and first paint in Chromium ----
bench_web() {
  local dist=$BUILD/web-dist js css j
  [[ -s $dist/index.html ]] || { log "$dist missing: make build (with npm) first"; return 1; }
  js=$(cat "$dist"/assets/*.js 2>/dev/null | gzip -9 | wc -c)
  css=$(cat "$dist"/assets/*.css 2>/dev/null | gzip -9 | wc -c)
  j=$(RG_BIN=$BIN RG_BUILD_DIR=$BUILD node "$ROOT/web/e2e/e2e.mjs" 2>"$OUT/web-e2e.log" | tail -1) ||
    { log "web e2e failed: $(tail -5 "$OUT/web-e2e.log")"; return 1; }
  {
    echo "The built app (JS + CSS, gzip -9) and its first contentful paint in headless Chromium loading"
    echo "http://127.0.0.1 from the binary (web/e2e/e2e.mjs, first visit, nothing cached)."
    echo "Goal: under 150 KB gzipped, first paint under 300 ms."
    echo
    echo "| JS (gzip) | CSS (gzip) | Total | Served over HTTP (gzip) | First contentful paint |"
    echo "| --- | --- | --- | --- | --- |"
    echo "| $((js / 1024)).$((js % 1024 * 10 / 1024)) KB | $((css / 1024)).$((css % 1024 * 10 / 1024)) KB |" \
      "$(((js + css) / 1024)).$(((js + css) % 1024 * 10 / 1024)) KB | $(json_field "$j" assets_transfer_bytes) bytes |" \
      "$(json_field "$j" first_contentful_paint_ms) ms |"
  } >"$web_md"
  log "web: js ${js}B css ${css}B $j"
}

rc=0
case $ONLY in
  http) bench_http || rc=1 ;;
  engine) bench_engine || rc=1 ;;
  serve) bench_serve || rc=1 ;;
  auth) bench_auth || rc=1 ;;
  web) bench_web || rc=1 ;;
  grammar) bench_grammar || rc=1 ;;
  conv) bench_conv || rc=1 ;;
  library) bench_library || rc=1 ;;
  library-index) bench_library_index || rc=1 ;;
  all) bench_http || rc=1; bench_engine || rc=1; bench_serve || rc=1; bench_auth || rc=1; bench_web || rc=1
    bench_grammar || rc=1; bench_conv || rc=1; bench_library || rc=1; bench_library_index || rc=1 ;;
  *) echo "BENCH_ONLY must be http, engine, serve, auth, web, grammar, conv, library, library-index or all" >&2; exit 2 ;;
esac

sec_http() {
  echo "wrk (2 threads, keep-alive, ${DURATION}s per run) against small JSON replies, on the same machine as"
  echo "the server, which runs with --http-threads $HTTP_THREADS so that each side has a core."
  echo "Target: at least 20,000 requests/s and p99 under 5 ms at 64 connections."
  echo
  cat "$http_md"
}
sec_engine() {
  echo "Random-weight models written by tools/gguf_gen with the shapes of TinyLlama-1.1B and"
  echo "SmolLM2-135M. Goal: generation at least 1.0x llama.cpp, prompt processing at least 0.8x."
  echo
  cat "$engine_md"
}
sec_serve() {
  echo "tools/serve_bench: N streaming /v1/chat/completions at once on the TinyLlama-shaped Q4_0 file"
  echo "(random weights, TinyLlama's vocabulary), each for $SERVE_TOKENS tokens with ignore_eos; aggregate"
  echo "tokens/s over the wall time of the whole run, time to first token (TTFT) per client."
  echo "Both servers use $THREADS threads on the same machine. Goal: at least 2x llama-server's aggregate at"
  echo "4 and 16 clients, the same single-client speed."
  echo
  cat "$serve_md"
  echo
  echo "Prefix reuse: a conversation of about 1,500 prompt tokens, then the same conversation with the"
  echo "answer and one more question (what Copilot sends on every turn). Goal: second-turn TTFT under 5%"
  echo "of the first."
  echo
  if [[ -s $turn_md ]]; then cat "$turn_md"; else echo "(not run)"; fi
}
# section TITLE FILE FUNCTION: this run's figures, or last time's section as it was
section() {
  echo "## $1"
  echo
  if [[ -s $2 && $2 -nt $PREV ]]; then "$3"; else prev_section "## $1"; fi
  echo
}

{
  echo "# Benchmark results"
  echo
  echo "Written by \`make bench\` (scripts/bench.sh); this run ($ONLY) on $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo "Sections not measured in this run keep the figures of the run that measured them."
  echo
  echo "## Machine"
  echo
  machine
  echo
  section "HTTP server" "$http_md" sec_http
  section "Engine" "$engine_md" sec_engine
  section "Serving" "$serve_md" sec_serve
  section "Accounts" "$auth_md" cat_auth
  section "Web app" "$web_md" cat_web
  section "Constrained output (response_format)" "$grammar_md" cat_grammar
  section "Conversations (list and search)" "$conv_md" cat_conv
  section "Library search" "$library_md" cat_library
  section "Library indexing" "$libidx_md" cat_libidx
  if [[ -s ${BENCH_NOTES:-$ROOT/bench/NOTES.md} ]]; then
    cat "${BENCH_NOTES:-$ROOT/bench/NOTES.md}"
  fi
} >"$RESULTS"
log "wrote $RESULTS"
exit $rc
