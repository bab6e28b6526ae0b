#!/usr/bin/env python3
"""Prints criterion's median per benchmark, grouped, from target/criterion/**/new/estimates.json.

Run after `cargo bench -p rstreams-benches --bench <name>`; pass group-name substrings to filter.
The ratio column is the group's first baseline-looking entry (plain_loop, crossbeam_*,
baseline_*, tokio_*, stream_*, nested_loop, std_threads*) divided by each entry: >1 means the entry
is faster than that baseline.
"""
import json, os, sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "criterion")
filters = sys.argv[1:]
BASE = ("plain_loop", "crossbeam_bounded_256", "baseline_channel_pool", "tokio_mpsc",
        "stream_iter_fold", "nested_loop", "std_threads", "async_nats")
groups = {}
for dirpath, dirnames, filenames in os.walk(root):
    if os.path.basename(dirpath) == "new" and "estimates.json" in filenames:
        with open(os.path.join(dirpath, "estimates.json")) as f:
            median = json.load(f)["median"]["point_estimate"]
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            meta = json.load(f)
        group, fn = meta["group_id"], meta.get("function_id") or meta.get("value_str") or "?"
        if filters and not any(x in group for x in filters):
            continue
        groups.setdefault(group, {})[fn] = median
for group in sorted(groups):
    fns = groups[group]
    base = next((fns[k] for b in BASE for k in sorted(fns) if k.startswith(b)), None)
    print(f"{group}")
    for fn in sorted(fns):
        t = fns[fn]
        r = f"{base / t:6.3f}x" if base else ""
        print(f"  {fn:45s} {t / 1e6:12.3f} ms  {r}")
