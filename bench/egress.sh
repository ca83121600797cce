#!/usr/bin/env bash
# Benchmarks `bottle egress` on loopback against going direct, mitmdump
# (interception + header injection), squid (plain HTTP) and tinyproxy
# (CONNECT). nginx serves a 1 KiB body over http (:18080) and https
# (:18443, certificate for "localhost" from a throwaway upstream CA), and a
# 1 GiB one for the bulk runs. Each setup is measured at concurrency 1 and
# 32 with keep-alive clients (bench/egressload): requests/s, latency, and
# the proxy's CPU time (user+sys from /proc) per 10,000 requests. Then a
# 1 GiB https download through CONNECT (each bottle's, tinyproxy's) against
# direct, and the CPU time an egress holding 100 idle tunnels uses over
# IDLE seconds. Peak RSS is VmHWM from /proc.
#
# BOTTLES="name=path ..." benchmarks several `bottle` binaries (say the
# commit before a change and after it), alternated round by round so that
# they see the same machine load; by default the tree's, built here. CPU
# per request is robust to a busy machine; requests/s and bytes/s are not:
# compare those only within one run.
#
# Needs: nginx squid tinyproxy mitmproxy (Debian packages), openssl, go.
# Usage: [BOTTLES="name=path ..."] [ROUNDS=3] [IDLE=30] bench/egress.sh [SECONDS per run, default 8]
# (prints a table, bench/egress-table.py; raw JSON lines go to
# $W/results.jsonl, W defaults to a fresh temp dir)
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
mkdir -p "$W/www" && head -c 1024 /dev/zero | tr '\0' x >"$W/www/1k"
head -c 1G /dev/urandom >"$W/www/1g" && chmod -R a+rX "$W/www"
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
if [ -z "${BOTTLES:-}" ]; then
  CGO_ENABLED=0 go build -o "$W/bottle" ./cmd/bottle
  BOTTLES="bottle=$W/bottle"
fi
ROUNDS=${ROUNDS:-3}
IDLE=${IDLE:-30}

waitport() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }
waitport 18080; waitport 18443

HTTP=http://localhost:18080/1k
HTTPS=https://localhost:18443/1k
BIG=https://localhost:18443/1g
load() { # label pid proxy url cacert egressload-flags...; pid 0: no CPU time
  local label=$1 pid=$2 proxy=$3 url=$4 cacert=$5; shift 5
  "$W/egressload" -label "$label" -pid "$pid" -url "$url" ${proxy:+-proxy "$proxy"} -cacert "$cacert" "$@" | tee -a "$W/results.jsonl"
}
run() { # label pid proxy url cacert: concurrency 1 and 32
  for c in 1 32; do load "$@" -c $c -d "${DUR}s"; done
}
hwm() { # label pid
  echo "{\"label\":\"$1\",\"vmhwm_kib\":$(awk '/VmHWM/{print $2}' "/proc/$2/status")}" | tee -a "$W/results.jsonl"
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

# --- the other proxies, started once and left running -------------------------
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
squid -N -f "$W/squid.conf" & SPID=$!; PIDS+=($SPID)
cat >"$W/tinyproxy.conf" <<EOF
Port 18092
Listen 127.0.0.1
Timeout 600
MaxClients 200
Allow 127.0.0.1
ConnectPort 18443
LogLevel Error
EOF
tinyproxy -d -c "$W/tinyproxy.conf" >"$W/tinyproxy.log" 2>&1 & TPID=$!; PIDS+=($TPID)
cat >"$W/inject.py" <<'EOF'
import os

def request(flow):
    flow.request.headers["x-api-key"] = os.environ["BENCH_KEY"]
EOF
BENCH_KEY=bench-secret mitmdump -q --listen-host 127.0.0.1 -p 18093 --set confdir="$W/mitm" \
  --set ssl_verify_upstream_trusted_ca="$W/up-ca.crt" -s "$W/inject.py" >"$W/mitm.log" 2>&1 & MPID=$!; PIDS+=($MPID)
waitport 18091; waitport 18092; waitport 18093

# --- bottle egress ------------------------------------------------------------
egress() { # name binary routes-yaml: runs it on :18094 and sets EPID
  printf '%s' "$3" >"$W/routes-$1.yaml"
  SSL_CERT_FILE="$W/up-ca.crt" BENCH_KEY=bench-secret "$2" egress \
    --routes "$W/routes-$1.yaml" --listen 127.0.0.1:18094 --ca "$W/ca" \
    >>"$W/$1.access.log" 2>>"$W/$1.err" & EPID=$!
  waitport 18094
}
PLAIN=$'routes:\n  - host: localhost\n    private: true\n'
INJECT=$'routes:\n  - host: localhost\n    private: true\n    ports: [18443]\n    inject:\n      header: x-api-key\n      env: BENCH_KEY\n'

for round in $(seq "$ROUNDS"); do
  echo "--- round $round of $ROUNDS" >&2
  run direct-http 0 "" $HTTP "$W/up-ca.crt"
  run direct-https 0 "" $HTTPS "$W/up-ca.crt"
  load direct-bulk 0 "" $BIG "$W/up-ca.crt" -n 1
  for b in $BOTTLES; do
    name=${b%%=*} bin=${b#*=}
    egress "$name" "$bin" "$PLAIN"
    run "$name-http" $EPID http://127.0.0.1:18094 $HTTP "$W/up-ca.crt"
    run "$name-connect" $EPID http://127.0.0.1:18094 $HTTPS "$W/up-ca.crt"
    load "$name-bulk" $EPID http://127.0.0.1:18094 $BIG "$W/up-ca.crt" -n 1
    load "$name-idle" $EPID http://127.0.0.1:18094 $HTTPS "$W/up-ca.crt" -idle -c 100 -d "${IDLE}s"
    hwm "$name-plain" $EPID; stop $EPID
    egress "$name" "$bin" "$INJECT"
    run "$name-intercept-inject" $EPID http://127.0.0.1:18094 $HTTPS "$W/ca/ca.crt"
    hwm "$name-intercept-inject" $EPID; stop $EPID
  done
  run squid-http $SPID http://127.0.0.1:18091 $HTTP "$W/up-ca.crt"
  run tinyproxy-connect $TPID http://127.0.0.1:18092 $HTTPS "$W/up-ca.crt"
  load tinyproxy-bulk $TPID http://127.0.0.1:18092 $BIG "$W/up-ca.crt" -n 1
  run mitmdump-intercept-inject $MPID http://127.0.0.1:18093 $HTTPS "$W/mitm/mitmproxy-ca-cert.pem"
done
hwm squid $SPID; hwm tinyproxy $TPID; hwm mitmdump $MPID

grep -q '"decision":"allow"' "$W"/*.access.log
if grep -q bench-secret "$W"/*.access.log "$W"/*.err; then echo "SECRET IN BOTTLE LOGS" >&2; exit 1; fi

python3 bench/egress-table.py "$W/results.jsonl" $BOTTLES
