#!/usr/bin/env python3
"""Benchmark of the whole stack on this machine, reported against ceilings
measured in the same run (the machines are shared and noisy, so only the
ratios travel between runs):

  - latency: approved -> offered and ready -> assigned (citysim's stage
    medians and p95, from the order.events log) against the round trip of a
    bare Redis PING on the same server (redis-benchmark p50);
  - throughput: orders routed per second against redis-benchmark's EVALSHA
    throughput of a trivial script on the same server (one state-machine call
    per transition is the floor of the work per order);
  - memory: peak RSS (VmHWM) of each service after the load.

  loadtest/bench.py [--rate 20] [--duration 30] [--pharmacies 300] [--couriers 200]
Needs a build (RXD_BUILD_DIR, default build/). Measures; asserts nothing."""
import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from harness import BUILD, Stack  # noqa: E402

CITYSIM = os.path.join(BUILD, "loadtest", "citysim", "citysim")


def redis_benchmark(port, *args):
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-q"] + list(args),
                         capture_output=True, text=True, timeout=300).stdout
    m = re.search(r"([\d.]+) requests per second, p50=([\d.]+) msec", out)
    if not m:
        raise RuntimeError("redis-benchmark said: " + out)
    return float(m.group(1)), float(m.group(2))


def peak_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return int(fields["VmHWM"].split()[0]), int(fields["VmRSS"].split()[0])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=20)
    p.add_argument("--duration", type=int, default=30)
    p.add_argument("--pharmacies", type=int, default=300)
    p.add_argument("--couriers", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    stack = Stack(RXD_OFFER_DEADLINE_MS=30000).up()
    try:
        port = stack.vars["RXD_REDIS_URL"].rsplit(":", 1)[1]
        ping_rps, ping_p50 = redis_benchmark(port, "-n", "50000", "-c", "1", "-t", "ping")
        eval_rps, _ = redis_benchmark(port, "-n", "50000", "-c", "8", "eval",
                                      "return redis.call('INCR', KEYS[1])", "1", "bench:k")
        summary_path = os.path.join(stack.dir, "bench.json")
        sim = subprocess.run(
            [CITYSIM, "--pharmacies", str(a.pharmacies), "--couriers", str(a.couriers),
             "--rate", str(a.rate), "--duration", str(a.duration), "--drain", "120",
             "--speedup", "20", "--seed", str(a.seed), "--summary-json", summary_path],
            env=stack.env, capture_output=True, text=True, timeout=a.duration + 400)
        with open(summary_path) as f:
            s = json.load(f)
        rss = {name: peak_rss_kb(pid) for name, pid in stack.pids().items()
               if name not in ("redis", "devbroker")}
        st = s["stages"]
        routed_per_s = s["stages"]["approved_to_offered"]["n"] / a.duration
        print("bench: %d prescriptions at %.0f/s for %d s, citysim exit %d" % (
            s["prescriptions_sent"], a.rate, a.duration, sim.returncode))
        print("ceilings (same run, same redis-server):")
        print("  redis PING p50                 %8.3f ms  (%.0f req/s, 1 client)" % (
            ping_p50, ping_rps))
        print("  redis EVAL of a 1-line script  %8.0f calls/s (8 clients)" % eval_rps)
        print("latency                         median      p95   median/PING-p50")
        for stage in ("approved_to_offered", "ready_to_assigned"):
            print("  %-28s %7.1f ms %7.1f ms %10.0fx" % (
                stage, st[stage]["median_s"] * 1000, st[stage]["p95_s"] * 1000,
                st[stage]["median_s"] * 1000 / ping_p50))
        print("throughput")
        print("  orders routed                  %8.1f /s  = %.4f of the EVAL ceiling" % (
            routed_per_s, routed_per_s / eval_rps))
        print("memory (kB)                      peak RSS   RSS now")
        for name, (hwm, now) in sorted(rss.items()):
            print("  %-28s %9d %9d" % (name, hwm, now))
        print("outcome: %s" % json.dumps(s["states"]))
    finally:
        stack.down()


if __name__ == "__main__":
    main()
