#!/usr/bin/env python3
"""Prints the side-by-side table of bench/results/*.json (strapi-io vs the Node reference),
then the cluster tables of bench/results/cluster-*.json (bench/cluster.sh): one table per
scenario with one column per setup (1 node standalone, 1 node + Redis, N nodes + Redis), and
the per-node figures of each multi-node run."""
import json
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results")
rows = sorted({p.name.rsplit("-", 1)[0] for p in root.glob("*-node.json")} |
              {p.name[: -len("-strapi-io.json")] for p in root.glob("*-strapi-io.json")})


def load(name, server):
    p = root / f"{name}-{server}.json"
    return json.loads(p.read_text()) if p.exists() else None


def fmt(v, unit=""):
    return "–" if v is None else (f"{v:,.1f}{unit}" if isinstance(v, float) else f"{v:,}{unit}")


def ratio(a, b, higher_better=True):
    if not a or not b:
        return "–"
    return f"{(a / b if higher_better else b / a):.2f}×"


metrics = [
    ("RSS/conn connected (KiB)", lambda d: d["memory"]["per_connection_connected_kib"], False),
    ("RSS/conn after (KiB)", lambda d: d["memory"]["per_connection_kib"], False),
    # Absent from reports written before the bench sampled the peak or had --settle: "–".
    ("RSS/conn peak (KiB)", lambda d: d["memory"].get("per_connection_peak_kib"), False),
    ("RSS/conn settled (KiB)", lambda d: d["memory"].get("per_connection_settled_kib"), False),
    ("handshakes/s", lambda d: d["connections"]["handshake_rate_per_s"], True),
    ("handshake p99 (ms)", lambda d: d["connections"]["handshake_ms"]["p99"], False),
    ("emits/s achieved", lambda d: d["emit"]["achieved_rate"] if d["emit"]["requests"] else None, True),
    ("deliveries/s", lambda d: d["deliveries"]["per_second"] if d["deliveries"]["expected"] else None, True),
    ("latency p50 (ms)", lambda d: d["latency_ms"]["p50"] if d["latency_ms"]["count"] else None, False),
    ("latency p99 (ms)", lambda d: d["latency_ms"]["p99"] if d["latency_ms"]["count"] else None, False),
    ("latency p999 (ms)", lambda d: d["latency_ms"]["p999"] if d["latency_ms"]["count"] else None, False),
    ("server CPU s / delivery-µs", lambda d: (d["cpu"]["server_s"] * 1e6 / d["deliveries"]["received"]) if d["deliveries"]["received"] else None, False),
    ("missing/dup/out-of-order", lambda d: f'{d["deliveries"]["missing"]}/{d["deliveries"]["duplicates"]}/{d["deliveries"]["out_of_order"]}', None),
]

for name in rows:
    a, b = load(name, "strapi-io"), load(name, "node")
    if not a and not b:
        continue
    print(f"\n### {name}\n")
    print(f"`{(a or b)['label'].split(' ', 1)[1]}`\n")
    print("| | strapi-io | Node reference | strapi-io advantage |")
    print("|---|---:|---:|---:|")
    for label, get, higher in metrics:
        try:
            va = get(a) if a else None
        except (KeyError, TypeError, ZeroDivisionError):
            va = None
        try:
            vb = get(b) if b else None
        except (KeyError, TypeError, ZeroDivisionError):
            vb = None
        if va is None and vb is None:
            continue
        r = "–" if higher is None or isinstance(va, str) else ratio(va, vb, higher)
        print(f"| {label} | {va if isinstance(va, str) else fmt(va)} | {vb if isinstance(vb, str) else fmt(vb)} | {r} |")


# ---- Cluster (bench/cluster.sh): cluster-<N>n[-redis]-<row>.json ---------------------------

CLUSTER = re.compile(r"^cluster-(\d+)n(-redis)?-(.+)\.json$")
runs = {}
for p in sorted(root.glob("cluster-*.json")):
    m = CLUSTER.match(p.name)
    if m:
        nodes, redis, row = int(m.group(1)), bool(m.group(2)) or int(m.group(1)) > 1, m.group(3)
        runs.setdefault(row, []).append((nodes, redis, json.loads(p.read_text())))


def get(d, *path):
    for k in path:
        if d is None:
            return None
        d = d[k] if isinstance(d, dict) and k in d else (d[k] if isinstance(d, list) and isinstance(k, int) and k < len(d) else None)
    return d


def phase(d, name, key):
    for p in d.get("phases") or []:
        if p["name"] == name:
            return p.get(key)
    return None


def mib(kib):
    return None if kib is None else kib / 1024


cluster_metrics = [
    ("clients (per node)", lambda d: "{:,} ({})".format(d["config"]["clients"], ", ".join("{:,}".format(n["established"]) for n in d.get("nodes", []))), None),
    ("handshakes/s", lambda d: d["connections"]["handshake_rate_per_s"], True),
    ("connect time (s)", lambda d: d["connections"]["handshake_window_s"], False),
    ("handshake p99 (ms)", lambda d: d["connections"]["handshake_ms"]["p99"], False),
    ("emits/s achieved", lambda d: d["emit"]["achieved_rate"] if d.get("emit") else None, True),
    ("deliveries/s", lambda d: d["deliveries"]["per_second"] if d["deliveries"]["expected"] else None, True),
    ("latency p50 (ms)", lambda d: d["latency_ms"]["p50"] if d["latency_ms"]["count"] else None, False),
    ("latency p99 (ms)", lambda d: d["latency_ms"]["p99"] if d["latency_ms"]["count"] else None, False),
    ("latency p999 (ms)", lambda d: d["latency_ms"]["p999"] if d["latency_ms"]["count"] else None, False),
    ("servers RSS after, sum (MiB)", lambda d: mib(get(d, "memory", "rss_after_kib")), False),
    ("RSS/conn connected (KiB)", lambda d: get(d, "memory", "per_connection_connected_kib"), False),
    ("RSS/conn after hold (KiB)", lambda d: get(d, "memory", "per_connection_held_kib") or (get(d, "memory", "per_connection_kib") if d["scenario"] == "idle" else None), False),
    ("RSS/conn after (KiB)", lambda d: get(d, "memory", "per_connection_kib"), False),
    ("RSS/conn peak (KiB)", lambda d: get(d, "memory", "per_connection_peak_kib"), False),
    ("RSS/conn settled (KiB)", lambda d: get(d, "memory", "per_connection_settled_kib"), False),
    ("servers CPU in connect (s)", lambda d: phase(d, "connect", "server_cpu_s"), False),
    ("servers CPU in hold (s)", lambda d: phase(d, "hold", "server_cpu_s"), False),
    ("servers CPU in emit (s)", lambda d: phase(d, "emit", "server_cpu_s"), False),
    ("servers CPU µs / delivery", lambda d: (phase(d, "emit", "server_cpu_s") * 1e6 / d["deliveries"]["received"]) if d["deliveries"]["received"] else None, False),
    ("Redis CPU, whole run (s)", lambda d: get(d, "redis", "cpu_s"), False),
    ("Redis % of a core: connect", lambda d: phase(d, "connect", "redis_core_pct"), False),
    ("Redis % of a core: hold", lambda d: phase(d, "hold", "redis_core_pct"), False),
    ("Redis % of a core: emit", lambda d: phase(d, "emit", "redis_core_pct"), False),
    ("bench CPU after connect (s)", lambda d: d["cpu"]["bench_s"], False),
    ("missing/dup/out-of-order", lambda d: f'{d["deliveries"]["missing"]}/{d["deliveries"]["duplicates"]}/{d["deliveries"]["out_of_order"]}', None),
]


def setup_name(nodes, redis):
    return f"{nodes} node{'s' if nodes > 1 else ''}" + (" + Redis" if redis else ", no Redis")


if runs:
    print("\n## Cluster (Redis)")
for row, variants in sorted(runs.items()):
    variants.sort(key=lambda v: (v[0], v[1]))
    print(f"\n### {row}\n")
    for nodes, redis, d in variants:
        # Labels of bench/cluster.sh: "cluster-<N>n[ (no Redis)] <scenario> <options>".
        label = d.get("label") or f"cluster-{nodes}n {d['scenario']}"
        args = label.split(" ", 1)[1] if " " in label else d["scenario"]
        no_redis = args.startswith("(no Redis) ")
        args = args[len("(no Redis) "):] if no_redis else args
        print(f"- {setup_name(nodes, redis)}: `{'NO_REDIS=1 ' if no_redis else ''}bench/cluster.sh {nodes} {args}`")
    print()
    base = variants[0][2]
    cols = [setup_name(n, r) for n, r, _ in variants]
    ratio_col = len(variants) > 1
    print("| | " + " | ".join(cols) + (f" | {cols[-1]} ÷ {cols[0]} |" if ratio_col else " |"))
    print("|---|" + "---:|" * (len(cols) + (1 if ratio_col else 0)))
    for label, fn, higher in cluster_metrics:
        vals = []
        for _, _, d in variants:
            try:
                vals.append(fn(d))
            except (KeyError, TypeError, ZeroDivisionError):
                vals.append(None)
        if all(v is None for v in vals):
            continue
        cells = [v if isinstance(v, str) else fmt(v) for v in vals]
        line = f"| {label} | " + " | ".join(cells) + " |"
        if ratio_col:
            a, b = vals[-1], vals[0]
            if higher is None or isinstance(a, str) or not a or not b:
                line += " – |"
            else:
                line += f" {a / b:.2f}× |"
        print(line)
    for nodes, redis, d in variants:
        if len(d.get("nodes") or []) < 2:
            continue
        print(f"\nPer node, {setup_name(nodes, redis)}:\n")
        print("| node | clients | RSS before → after (MiB) | KiB/conn connected / after hold / after | KiB/conn peak / settled | CPU after connect (s) | deliveries | latency p50 / p99 / p999 (ms) | missing/dup/ooo |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in d["nodes"]:
            m = n.get("memory") or {}
            dl = n["deliveries"]
            lat = n["latency_ms"]
            held = m.get("per_connection_held_kib")
            if held is None and d["scenario"] == "idle":
                held = m.get("per_connection_kib")
            print(
                f"| {n['node']}{' (emits)' if n['emits'] else ''} | {n['established']:,} | "
                f"{fmt(mib(m.get('rss_before_kib')))} → {fmt(mib(m.get('rss_after_kib')))} | "
                f"{fmt(m.get('per_connection_connected_kib'))} / {fmt(held)} / {fmt(m.get('per_connection_kib'))} | "
                f"{fmt(m.get('per_connection_peak_kib'))} / {fmt(m.get('per_connection_settled_kib'))} | "
                f"{fmt(n.get('cpu_s'))} | {dl['unique']:,} / {dl['expected']:,} | "
                + (f"{lat['p50']:,.1f} / {lat['p99']:,.1f} / {lat['p999']:,.1f}" if lat["count"] else "–")
                + f" | {dl['missing']}/{dl['duplicates']}/{dl['out_of_order']} |"
            )
