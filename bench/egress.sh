#!/usr/bin/env bash
# Benchmarks `bottle egress` on loopback against going direct, mitmdump
# (interception + header injection), squid (plain HTTP) and tinyproxy
# (CONNECT). nginx serves a 1 KiB body over http (:18080) and https
# (:18443, certificate for "localhost" from a throwaway upstream CA).
# Every proxy runs alone, one at a time, and is measured at concurrency 1
# and 32 with keep-alive clients (bench/egressload); its peak RSS is VmHWM
# from /proc after both runs.
#
# Needs: nginx squid tinyproxy mitmproxy (Debian packages), openssl, go.
# Usage: bench/egress.sh [SECONDS per run, default 8]   (prints a table; raw
# JSON lines go to $W/results.jsonl, W defaults to a fresh temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-8}
W=${W:-$(mktemp -d /tmp/egressbench.XXXXXX)}
chmod 755 "$W"
echo "work dir: $W" >&2
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# --- certificates -----------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=bench upstream CA" -keyout "$W/up-ca.key" -out "$W/up-ca.crt" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$W/nginx.key" -out "$W/nginx.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost\n' >"$W/san.ext"
openssl x509 -req -in "$W/nginx.csr" -CA "$W/up-ca.crt" -CAkey "$W/up-ca.key" -CAcreateserial \
  -days 2 -extfile "$W/san.ext" -out "$W/nginx.crt" 2>/dev/null
mkdir -p "$W/ca" # the bottle's CA, as ca_create lays it out
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=bench bottle CA" -keyout "$W/ca/ca.key" -out "$W/ca/ca.crt" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign 2>/dev/null

# --- nginx ------------------------------------------------------------------
mkdir -p "$W/www" && head -c 1024 /dev/zero | tr '\0' x >"$W/www/1k" && chmod -R a+rX "$W/www"
cat >"$W/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $W/nginx.pid;
error_log $W/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:18080;
    listen 127.0.0.1:18443 ssl;
    ssl_certificate $W/nginx.crt;
    ssl_certificate_key $W/nginx.key;
    root $W/www;
  }
}
EOF
for port in 18080 18443 18091 18092 18093 18094; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "port $port is already in use" >&2; exit 1; fi
done
nginx -c "$W/nginx.conf" & PIDS+=($!)

go build -o "$W/egressload" ./bench/egressload
CGO_ENABLED=0 go build -o "$W/bottle" ./cmd/bottle

waitport() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }
waitport 18080; waitport 18443

HTTP=http://localhost:18080/1k
HTTPS=https://localhost:18443/1k
run() { # label proxy url cacert...
  local label=$1 proxy=$2 url=$3; shift 3
  local certs=(); for c in "$@"; do certs+=(-cacert "$c"); done
  for c in 1 32; do
    "$W/egressload" -label "$label" -url "$url" ${proxy:+-proxy "$proxy"} -c $c -d "${DUR}s" "${certs[@]}" | tee -a "$W/results.jsonl"
  done
}
hwm() { # label pid
  echo "{\"label\":\"$1\",\"vmhwm_kib\":$(awk '/VmHWM/{print $2}' "/proc/$2/status")}" | tee -a "$W/results.jsonl"
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

# --- direct -----------------------------------------------------------------
run direct-http "" $HTTP
run direct-https "" $HTTPS "$W/up-ca.crt"

# --- bottle egress ----------------------------------------------------------
egress() { # label routes-yaml ; runs bottle egress on :18094 and sets EPID
  printf '%s' "$2" >"$W/routes-$1.yaml"
  SSL_CERT_FILE="$W/up-ca.crt" BENCH_KEY=bench-secret "$W/bottle" egress \
    --routes "$W/routes-$1.yaml" --listen 127.0.0.1:18094 --ca "$W/ca" \
    >"$W/bottle-$1.access.log" 2>"$W/bottle-$1.err" & EPID=$!
  waitport 18094
}
egress plain $'routes:\n  - host: localhost\n'
run bottle-http http://127.0.0.1:18094 $HTTP
run bottle-connect http://127.0.0.1:18094 $HTTPS "$W/up-ca.crt"
hwm bottle-plain $EPID; stop $EPID
egress inject $'routes:\n  - host: localhost\n    inject:\n      header: x-api-key\n      env: BENCH_KEY\n'
run bottle-intercept-inject http://127.0.0.1:18094 $HTTPS "$W/ca/ca.crt"
hwm bottle-intercept-inject $EPID; stop $EPID

# --- squid: plain HTTP --------------------------------------------------------
chmod 777 "$W"
cat >"$W/squid.conf" <<EOF
http_port 127.0.0.1:18091
http_access allow all
cache deny all
cache_mem 8 MB
access_log stdio:$W/squid-access.log
cache_log $W/squid-cache.log
pid_filename $W/squid.pid
coredump_dir $W
shutdown_lifetime 1 seconds
EOF
squid -N -f "$W/squid.conf" & SPID=$!
waitport 18091
run squid-http http://127.0.0.1:18091 $HTTP
hwm squid $SPID; stop $SPID

# --- tinyproxy: CONNECT -------------------------------------------------------
cat >"$W/tinyproxy.conf" <<EOF
Port 18092
Listen 127.0.0.1
Timeout 600
MaxClients 200
Allow 127.0.0.1
ConnectPort 18443
LogLevel Error
EOF
tinyproxy -d -c "$W/tinyproxy.conf" >"$W/tinyproxy.log" 2>&1 & TPID=$!
waitport 18092
run tinyproxy-connect http://127.0.0.1:18092 $HTTPS "$W/up-ca.crt"
hwm tinyproxy $TPID; stop $TPID

# --- mitmdump: interception + injection ------------------------------------
cat >"$W/inject.py" <<'EOF'
import os

def request(flow):
    flow.request.headers["x-api-key"] = os.environ["BENCH_KEY"]
EOF
BENCH_KEY=bench-secret mitmdump -q --listen-host 127.0.0.1 -p 18093 --set confdir="$W/mitm" \
  --set ssl_verify_upstream_trusted_ca="$W/up-ca.crt" -s "$W/inject.py" >"$W/mitm.log" 2>&1 & MPID=$!
waitport 18093
run mitmdump-intercept-inject http://127.0.0.1:18093 $HTTPS "$W/mitm/mitmproxy-ca-cert.pem"
hwm mitmdump $MPID; stop $MPID

grep -c '"decision":"allow"' "$W/bottle-inject.access.log" >/dev/null
if grep -q bench-secret "$W"/bottle-*.access.log "$W"/bottle-*.err; then echo "SECRET IN BOTTLE LOGS" >&2; exit 1; fi

python3 - "$W/results.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
runs = {(r["label"], r["c"]): r for r in rows if "c" in r}
rss = {r["label"]: r["vmhwm_kib"] for r in rows if "vmhwm_kib" in r}
base = {"http": "direct-http", "https": "direct-https"}
print(f'{"setup":28} {"c":>3} {"req/s":>9} {"p50 ms":>7} {"+p50 ms":>8} {"p99 ms":>7} {"+p99 ms":>8} {"errors":>6}')
for (label, c), r in runs.items():
    b = runs.get((base["http" if label.endswith("http") else "https"], c))
    add50 = r["p50_ms"] - b["p50_ms"] if b and not label.startswith("direct") else 0
    add99 = r["p99_ms"] - b["p99_ms"] if b and not label.startswith("direct") else 0
    print(f'{label:28} {c:>3} {r["rps"]:>9.0f} {r["p50_ms"]:>7.3f} {add50:>+8.3f} {r["p99_ms"]:>7.3f} {add99:>+8.3f} {r["errors"]:>6}')
print()
for k, v in rss.items():
    print(f'peak RSS {k:26} {v/1024:6.1f} MiB')
print()
# The issue's targets, as ratios of this run's figures.
for ours, theirs, want in (("bottle-http", "squid-http", 1.0), ("bottle-connect", "tinyproxy-connect", 0.9),
                           ("bottle-intercept-inject", "mitmdump-intercept-inject", 10.0)):
    for c in (1, 32):
        a, b = runs.get((ours, c)), runs.get((theirs, c))
        if a and b:
            x = a["rps"] / b["rps"]
            print(f'{ours:24} / {theirs:26} c={c:<3} {x:6.2f}x  (target >= {want}x: {"met" if x >= want else "NOT met"})')
for c in (1, 32):  # what no proxy, however fast, can beat
    a, b = runs.get(("direct-https", c)), runs.get(("mitmdump-intercept-inject", c))
    if a and b:
        print(f'{"direct-https (no proxy)":24} / {"mitmdump-intercept-inject":26} c={c:<3} {a["rps"] / b["rps"]:6.2f}x  (the ceiling)')
for k in ("bottle-plain", "bottle-intercept-inject"):
    if k in rss:
        print(f'peak RSS {k:24} {rss[k]/1024:6.1f} MiB (target <= 20 MiB: {"met" if rss[k] <= 20*1024 else "NOT met"})')
EOF
