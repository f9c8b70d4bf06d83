"""The metric names deploy/prometheus/alerts.yaml and deploy/grafana/
rxdispatch.json use, for the checks that the services export each of them
(test_alerts.py against the sources, tests/integration/test_metrics.py
against /metrics of a running stack)."""
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALERTS = os.path.join(ROOT, "deploy", "prometheus", "alerts.yaml")
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "rxdispatch.json")
# what redis_exporter (oliver006/redis_exporter) exports that the rules use
EXPORTER = {"redis_memory_used_bytes", "redis_memory_max_bytes"}
BUILTIN = {"up"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def expressions():
    """Every PromQL expression of the rules and of the dashboard."""
    exprs = []
    with open(ALERTS) as f:
        text = f.read()
    # expr: on one line, or a folded block (>-) of indented lines
    for m in re.finditer(r"^\s*expr: (>-\n(?:\s{10,}.*\n)+|.*)$", text, re.M):
        exprs.append(m.group(1).replace(">-\n", " "))
    with open(DASHBOARD) as f:
        for panel in json.load(f)["panels"]:
            exprs.extend(t["expr"] for t in panel["targets"])
    return exprs


def names():
    """Metric names used (histogram series reduced to the family name)."""
    found = set()
    for e in expressions():
        for n in re.findall(r"\b(rxd_[a-z_]+|redis_[a-z_]+|up)\b", e):
            for suffix in HISTOGRAM_SUFFIXES:
                if n.startswith("rxd_") and n.endswith(suffix):
                    n = n[:-len(suffix)]
            found.add(n)
    return found
