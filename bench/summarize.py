#!/usr/bin/env python3
"""Prints the side-by-side table of bench/results/*.json (strapi-io vs the Node reference)."""
import json
import pathlib
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
