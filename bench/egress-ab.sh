#!/usr/bin/env bash
# bench/egress-ab.sh: two or more `bottle egress` binaries alternated against
# one nginx, round by round, so that they see the same machine load: the
# before/after comparisons in BENCHMARKS.md ("Egress") come from it.
#
#   W=DIR bench/egress-ab.sh SECONDS CONCURRENCY MODE BOTTLE... [ROUNDS=3]
#
# DIR is the work directory of an earlier `bench/egress.sh` run (it holds the
# nginx config, the certificates and egressload). MODE is intercept (https
# with a route that injects, so TLS is intercepted), connect (https through a
# plain tunnel), http, or connect-delay (connect to an upstream, egressload
# -serve, that answers after DELAY, default 1ms: as far away as a real
# host is, not loopback's nginx's few microseconds). A BOTTLE may be a wrapper script that adds flags or
# environment (say `GOMAXPROCS=1 exec /path/bottle "$@"`). Each line is
# egressload's JSON, with the proxy's CPU time (utime + stime from /proc)
# in all and per 10,000 requests (egressload -pid). The egress listens on
# 127.0.0.1:$PORT (default 18094), the delayed upstream on :18096.
set -euo pipefail
W=${W:?set W to the work dir of a bench/egress.sh run}
DUR=$1 C=$2 MODE=$3
shift 3
[ -x "$W/egressload" ] && [ -f "$W/nginx.conf" ] || { echo "$W is not a bench/egress.sh work dir" >&2; exit 1; }
NP= SP=
[ "$MODE" = connect-delay ] || { nginx -c "$W/nginx.conf" & NP=$!; }
trap 'kill $NP $SP 2>/dev/null || true' EXIT
sleep 0.5
case $MODE in
intercept) R=$'routes:\n  - host: localhost\n    private: true\n    ports: [18443]\n    inject:\n      header: x-api-key\n      env: BENCH_KEY\n'; URL=https://localhost:18443/1k; CA=$W/ca/ca.crt ;;
connect) R=$'routes:\n  - host: localhost\n    private: true\n'; URL=https://localhost:18443/1k; CA=$W/up-ca.crt ;;
connect-delay) R=$'routes:\n  - host: localhost\n    private: true\n'; URL=https://localhost:18096/; CA=$W/up-ca.crt
	"$W/egressload" -serve 127.0.0.1:18096 -delay "${DELAY:-1ms}" -cert "$W/nginx.crt" -key "$W/nginx.key" & SP=$!
	trap 'kill $NP $SP 2>/dev/null || true' EXIT ;;
http) R=$'routes:\n  - host: localhost\n    private: true\n'; URL=http://localhost:18080/1k; CA=$W/up-ca.crt ;;
*) echo "MODE: intercept, connect or http" >&2; exit 2 ;;
esac
printf '%s' "$R" >"$W/ab-routes.yaml"
for _ in $(seq "${ROUNDS:-3}"); do
	for b in "$@"; do
		SSL_CERT_FILE="$W/up-ca.crt" BENCH_KEY=bench-secret "$b" egress --routes "$W/ab-routes.yaml" \
			--listen 127.0.0.1:${PORT:-18094} --ca "$W/ca" >"$W/ab-access.log" 2>"$W/ab-err.log" & EP=$!
		sleep 0.3
		"$W/egressload" -label "$(basename "$b")" -pid "$EP" -url "$URL" -proxy http://127.0.0.1:${PORT:-18094} -c "$C" -d "${DUR}s" -cacert "$CA"
		kill "$EP"
		wait "$EP" 2>/dev/null || true
	done
done
