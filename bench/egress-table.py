#!/usr/bin/env python3
"""The table bench/egress.sh prints: medians over its rounds of every
setup's requests/s, latency and CPU per 10,000 requests, the bulk
downloads against direct, the idle tunnels' CPU, peak RSS, and the
issue's targets as ratios of this run's figures.

Usage: bench/egress-table.py results.jsonl [name=path ...]  (the names of
the bottle binaries, as BOTTLES gave them)"""
import json
import statistics
import sys
from collections import defaultdict

rows = [json.loads(line) for line in open(sys.argv[1])]
names = [b.split("=", 1)[0] for b in sys.argv[2:]] or ["bottle"]
runs = defaultdict(list)  # (label, c) -> rows, one per round
for r in rows:
    if "c" in r:
        runs[(r["label"], r["c"])].append(r)
rss = defaultdict(int)
for r in rows:
    if "vmhwm_kib" in r:
        rss[r["label"]] = max(rss[r["label"]], r["vmhwm_kib"])


def med(label, c, key):
    vals = [r[key] for r in runs.get((label, c), []) if key in r]
    return statistics.median(vals) if vals else None


def fmt(v, spec):
    return format(v, spec) if v is not None else "-"


load = [k for k in runs if not k[0].endswith(("-bulk", "-idle"))]
print(f'{"setup":32} {"c":>3} {"req/s":>8} {"p50 ms":>7} {"p99 ms":>7} {"CPU s/10k req":>13} {"errors":>6}')
for label, c in load:
    errs = sum(r["errors"] for r in runs[(label, c)])
    print(f'{label:32} {c:>3} {fmt(med(label, c, "rps"), "8.0f")} {fmt(med(label, c, "p50_ms"), "7.3f")}'
          f' {fmt(med(label, c, "p99_ms"), "7.3f")} {fmt(med(label, c, "cpu_s_per_10k"), "13.2f")} {errs:>6}')
n = len(runs.get(("direct-http", 1), []))
print(f"(medians of {n} rounds; CPU is the proxy's user+sys from /proc, warm-up requests included)")
print()

# Bulk: each round's ratio to that round's direct download, then the median.
direct = [r["bytes_per_s"] for r in runs.get(("direct-bulk", 1), [])]
for label in ["direct"] + names + ["tinyproxy"]:
    got = runs.get((label + "-bulk", 1), [])
    if not got:
        continue
    speeds = [r["bytes_per_s"] for r in got]
    ratios = [s / d for s, d in zip(speeds, direct)]
    cpu = [r.get("cpu_s", 0) for r in got]
    print(f'bulk 1 GiB https {label + " CONNECT" if label != "direct" else "direct":24} '
          f'{statistics.median(speeds) / 2**20:7.0f} MiB/s  {statistics.median(ratios):5.2f}x direct'
          f'  (rounds: {", ".join(f"{x:.2f}" for x in ratios)}; proxy CPU {statistics.median(cpu):.2f} s)')
print()
for name in names:
    got = runs.get((name + "-idle", 100), [])
    if got:
        cpu = ", ".join(format(r["cpu_s"], ".2f") for r in got)
        print(f'idle {name:12} 100 open idle tunnels: CPU {cpu} s over {got[0]["idle_s"]:.0f} s (per round)')
print()
for k, v in rss.items():
    print(f"peak RSS {k:30} {v / 1024:6.1f} MiB")
print()
for name in names:
    for ours, theirs in (("http", "squid-http"), ("connect", "tinyproxy-connect"),
                         ("intercept-inject", "mitmdump-intercept-inject")):
        for c in (1, 32):
            a, b = med(f"{name}-{ours}", c, "cpu_s_per_10k"), med(theirs, c, "cpu_s_per_10k")
            if a is not None and b:
                want = "target <= 1x" if ours != "intercept-inject" else "no target"
                print(f"CPU/req {name + '-' + ours:28} / {theirs:26} c={c:<3} {a / b:5.2f}x ({want})")
for name in names:
    for ours, theirs, want in (("http", "squid-http", 1.0), ("connect", "tinyproxy-connect", 0.9),
                               ("intercept-inject", "mitmdump-intercept-inject", 10.0)):
        for c in (1, 32):
            a, b = med(f"{name}-{ours}", c, "rps"), med(theirs, c, "rps")
            if a and b:
                print(f"req/s   {name + '-' + ours:28} / {theirs:26} c={c:<3} {a / b:5.2f}x (target >= {want}x)")
