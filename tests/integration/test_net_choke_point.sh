#!/usr/bin/env bash
# One choke point for outbound connections (docs/memory.md, "Offline mode"):
# outside src/net/, no source makes a libcurl handle, resolves a name or opens
# a socket, except the listed places whose sockets are not outbound (the
# HTTP server's listening socket) or are the user's own (libpq to --db).
# A new outbound path must go through rg_net_curl(), or this fails and says where.
set -uo pipefail
SRC=${RG_SOURCE_DIR:?RG_SOURCE_DIR: the source tree}/src
PATTERN='curl_(easy|multi|share)_init|(^|[^a-z_])curl_url\(|getaddrinfo|gethostbyname|getnameinfo|(^|[^>.a-z_])connect[[:space:]]*\(|(^|[^a-z_])socket[[:space:]]*\(|PQconnect'
ALLOWED=(
  "http/server.c:getaddrinfo"   # the listening address (AI_PASSIVE)
  "http/server.c:socket("       # the listening socket
  "db/db_pg.c:PQconnect"        # the user's own PostgreSQL (--db)
)
bad=0
while IFS= read -r hit; do
  file=${hit%%:*}
  rel=${file#"$SRC"/}
  [[ $rel == net/* ]] && continue
  ok=false
  for a in "${ALLOWED[@]}"; do
    [[ $rel == "${a%%:*}" && $hit == *"${a#*:}"* ]] && ok=true
  done
  $ok && continue
  echo "FAIL: an outbound primitive outside src/net/: ${hit#"$SRC"/}" >&2
  bad=$((bad + 1))
done < <(grep -rnE "$PATTERN" "$SRC" --include='*.c' --include='*.cpp' --include='*.h')
# and the choke point itself is in use
grep -q 'curl_easy_init' "$SRC/net/net.c" || { echo "FAIL: src/net/net.c makes no handle" >&2; bad=$((bad + 1)); }
((bad == 0)) && echo "PASS: every outbound connection goes through src/net/"
exit $((bad > 0))
