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

# wuhan.c's hospitals: the ids its prescriptions carry
WUHAN_HOSPITALS = {
    "hb-wh-xiehe", "hb-wh-tongji", "hb-wh-renmin", "hb-wh-zhongnan", "hb-wh-central", "hb-wh-tcm",
    "hb-wh-first", "hb-wh-third", "hb-wh-fourth", "hb-wh-fifth", "hb-wh-hankou",
    "hb-wh-children", "hb-wh-zhongbu", "hb-wh-fuyou", "hb-wh-tumour", "hb-wh-liyuan",
    "hb-wh-jinyintan"}

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

    def test_wuhan_orders_come_from_its_hospitals(self):
        """--city wuhan: the orders finish and each names one of Wuhan's
        hospitals; the pharmacies registered (--ids-json) have Wuhan
        addresses and hospitals, one more is left to people."""
        run = "w%d" % os.getpid()
        with tempfile.TemporaryDirectory() as tmp:
            summary_path = os.path.join(tmp, "summary.json")
            ids_path = os.path.join(tmp, "ids.json")
            p = subprocess.run(
                [CITYSIM, "--city", "wuhan", "--pharmacies", "34", "--couriers", "20",
                 "--rate", "2", "--duration", "5", "--drain", "60", "--speedup", "30",
                 "--seed", "5", "--run-id", run, "--summary-json", summary_path,
                 "--ids-json", ids_path, "--leave-to-people", "1"],
                env=self.stack.env, capture_output=True, text=True, timeout=200)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr[-3000:])
            with open(summary_path) as f:
                summary = json.load(f)
            with open(ids_path) as f:
                ids = json.load(f)

        self.assertEqual(summary["prescriptions_sent"], 10)
        self.assertEqual(summary["unsettled"], 0)
        self.assertEqual(len(ids["pharmacies"]), 34)
        self.assertEqual(len(ids["couriers"]), 20)
        people = ids["left_to_people"]
        self.assertEqual(len(people["pharmacies"]), 1)
        self.assertEqual(len(people["couriers"]), 1)
        driven = {ph["id"] for ph in ids["pharmacies"]}
        self.assertNotIn(people["pharmacies"][0]["id"], driven)
        linked = Counter()
        for ph in ids["pharmacies"] + people["pharmacies"]:
            self.assertIn(ph["hospital_id"], WUHAN_HOSPITALS)
            self.assertTrue(ph["address"].startswith("武汉市"), ph)
            self.assertIn("药房（", ph["name"])
            linked[ph["hospital_id"]] += 1
        self.assertEqual(set(linked), WUHAN_HOSPITALS)  # 35 pharmacies over 17 hospitals

        orders = {}
        for e in self.stack.events(idle_ms=2000):
            if e["prescription_id"].startswith(run + "-rx-"):
                orders[e["order_id"]] = e
        self.assertEqual(len(orders), 10)
        for oid in orders:
            self.assertIn(self.stack.order(oid)["state"], FINAL, oid)
            # the order keeps the prescription's hospital (the views leave
            # it out; the address is erased at the close)
            key = "rxd:{default}:ord:" + oid
            self.assertIn(self.redis("HGET", key, "hospital"), WUHAN_HOSPITALS, oid)


if __name__ == "__main__":
    unittest.main()
