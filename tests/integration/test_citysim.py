"""The main job's simulated city over a short run (issue 3): every order it
could serve is delivered or collected, nothing is left unfinished, and its
summary says what the order.events log says."""
import json
import math
import os
import subprocess
import tempfile
import unittest
from collections import Counter, defaultdict

from harness import BUILD, StackTest

CITYSIM = os.path.join(BUILD, "loadtest", "citysim", "citysim")
FINAL = {"DELIVERED", "COLLECTED", "CANCELLED", "UNROUTABLE", "RETURNED"}


def nearest_rank(values, q):
    values = sorted(values)
    return values[max(0, math.ceil(q * len(values)) - 1)]


class CitySimTest(StackTest):
    STACK_ENV = {"RXD_OFFER_DEADLINE_MS": 8000}

    def test_short_run_matches_the_event_log(self):
        run = "t%d" % os.getpid()
        with tempfile.TemporaryDirectory() as tmp:
            summary_path = os.path.join(tmp, "summary.json")
            p = subprocess.run(
                [CITYSIM, "--pharmacies", "40", "--couriers", "30", "--rate", "3",
                 "--duration", "10", "--drain", "120", "--speedup", "30", "--radius-m", "2500",
                 "--seed", "7", "--run-id", run, "--summary-json", summary_path],
                env=self.stack.env, capture_output=True, text=True, timeout=400)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr[-3000:])
            self.assertIn("citysim summary", p.stdout)
            with open(summary_path) as f:
                summary = json.load(f)

        events = defaultdict(dict)
        for e in self.stack.events(idle_ms=2000):
            if e["prescription_id"].startswith(run + "-rx-"):
                events[e["order_id"]][e["seq"]] = e
        self.assertEqual(summary["prescriptions_sent"], 30)
        self.assertEqual(len(events), summary["orders_seen"])
        self.assertEqual(len(events), 30)

        last = {}
        reasons = Counter()
        to_delivered = []
        for oid, by_seq in events.items():
            seqs = sorted(by_seq)
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)), oid)
            final = by_seq[seqs[-1]]
            last[oid] = final["state"]
            self.assertIn(final["state"], FINAL, oid)
            if final["state"] == "UNROUTABLE":
                reasons[final["reason"]] += 1
            pick = [by_seq[s] for s in seqs if by_seq[s]["state"] == "PICKED_UP"]
            done = [by_seq[s] for s in seqs if by_seq[s]["state"] == "DELIVERED"]
            if pick and done:
                to_delivered.append((done[0]["at_ms"] - pick[-1]["at_ms"]) / 1000.0)

        states = Counter(last.values())
        self.assertEqual(summary["states"], dict(states))
        self.assertEqual(summary["delivered"], states["DELIVERED"])
        self.assertEqual(summary["collected"], states["COLLECTED"])
        self.assertEqual(summary["unroutable_by_reason"], dict(reasons))
        self.assertEqual(summary["unsettled"], 0)
        self.assertGreater(states["DELIVERED"], 0)
        stage = summary["stages"]["picked_up_to_delivered"]
        self.assertEqual(stage["n"], len(to_delivered))
        self.assertAlmostEqual(stage["median_s"], nearest_rank(to_delivered, 0.5), places=2)
        self.assertAlmostEqual(stage["p95_s"], nearest_rank(to_delivered, 0.95), places=2)


if __name__ == "__main__":
    unittest.main()
