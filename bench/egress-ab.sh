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
# plain tunnel) or http. A BOTTLE may be a wrapper script that adds flags or
# environment (say `exec /path/bottle "$@" --spin 0`). Each line is
# egressload's JSON plus the proxy's CPU time per request (utime + stime from
# /proc, divided by the access-log lines; for connect, per tunnel).
set -euo pipefail
W=${W:?set W to the work dir of a bench/egress.sh run}
DUR=$1 C=$2 MODE=$3
shift 3
[ -x "$W/egressload" ] && [ -f "$W/nginx.conf" ] || { echo "$W is not a bench/egress.sh work dir" >&2; exit 1; }
nginx -c "$W/nginx.conf" & NP=$!
trap 'kill $NP 2>/dev/null || true' EXIT
sleep 0.5
case $MODE in
intercept) R=$'routes:\n  - host: localhost\n    inject:\n      header: x-api-key\n      env: BENCH_KEY\n'; URL=https://localhost:18443/1k; CA=$W/ca/ca.crt ;;
connect) R=$'routes:\n  - host: localhost\n'; URL=https://localhost:18443/1k; CA=$W/up-ca.crt ;;
http) R=$'routes:\n  - host: localhost\n'; URL=http://localhost:18080/1k; CA=$W/up-ca.crt ;;
*) echo "MODE: intercept, connect or http" >&2; exit 2 ;;
esac
printf '%s' "$R" >"$W/ab-routes.yaml"
ticks=$(getconf CLK_TCK)
for _ in $(seq "${ROUNDS:-3}"); do
	for b in "$@"; do
		SSL_CERT_FILE="$W/up-ca.crt" BENCH_KEY=bench-secret "$b" egress --routes "$W/ab-routes.yaml" \
			--listen 127.0.0.1:18094 --ca "$W/ca" >"$W/ab-access.log" 2>"$W/ab-err.log" & EP=$!
		sleep 0.3
		t0=$(awk '{print $14+$15}' "/proc/$EP/stat")
		"$W/egressload" -label "$(basename "$b")" -url "$URL" -proxy http://127.0.0.1:18094 -c "$C" -d "${DUR}s" -cacert "$CA" | tr -d '\n'
		t1=$(awk '{print $14+$15}' "/proc/$EP/stat")
		n=$(wc -l <"$W/ab-access.log")
		echo " cpu_us_per_logged_request=$(((t1 - t0) * 1000000 / ticks / (n > 0 ? n : 1)))"
		kill "$EP"
		wait "$EP" 2>/dev/null || true
	done
done
