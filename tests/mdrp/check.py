#!/usr/bin/env python3
"""check.py INSTANCE_DIR SOLUTION_DIR - an independent feasibility check of
an MDRP solution (the three files loadtest/mdrp writes) against the rules of
the benchmark README: it re-reads the instance and the solution and works the
times out again, sharing no code with the simulator.

Checked: file headers; every order delivered at most once and by the courier
of its assignment; no assignment before placement or before the courier's
shift; one restaurant per bundle; pickup not before ready, not before the
courier's arrival + half the pickup service, not after the courier's off
time; drop-off = arrival + half the drop-off service; no teleporting (each
leg starts where the previous one ended, not before it ended); drop-offs in
the assigned sequence; trips of one courier do not overlap.
Exit 0 when feasible, 1 with the violations listed, 2 on unreadable input."""
import math
import os
import sys


def table(path, sep=None):
    with open(path) as f:
        lines = [l.split(sep) for l in f.read().splitlines() if l.strip()]
    return lines[0], lines[1:]


def load_instance(d):
    _, (p,) = table(os.path.join(d, "instance_parameters.txt"), "\t")
    inst = {"mpm": float(p[0]), "ps": float(p[1]), "ds": float(p[2])}
    inst["rest"] = {r[0]: (float(r[1]), float(r[2])) for r in table(os.path.join(d, "restaurants.txt"), "\t")[1]}
    inst["orders"] = {o[0]: {"xy": (float(o[1]), float(o[2])), "placed": float(o[3]), "rest": o[4],
                             "ready": float(o[5])} for o in table(os.path.join(d, "orders.txt"), "\t")[1]}
    inst["couriers"] = {c[0]: {"xy": (float(c[1]), float(c[2])), "on": float(c[3]), "off": float(c[4])}
                        for c in table(os.path.join(d, "couriers.txt"), "\t")[1]}
    return inst


def travel(inst, a, b):
    return math.ceil(math.sqrt((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) / inst["mpm"])


class Checker:
    def __init__(self, inst, sol):
        self.inst, self.sol, self.errors = inst, sol, []

    def fail(self, msg):
        self.errors.append(msg)

    def place(self, courier, pid):
        if pid == "0":
            return self.inst["couriers"][courier]["xy"]
        if pid in self.inst["rest"]:
            return self.inst["rest"][pid]
        if pid in self.inst["orders"]:
            return self.inst["orders"][pid]["xy"]
        self.fail(f"courier {courier}: unknown place {pid}")
        return None

    def read(self):
        head, rows = table(os.path.join(self.sol, "solution_info_orders.txt"))
        if head != "order placement_time ready_time pickup_time dropoff_time courier".split():
            self.fail(f"solution_info_orders.txt: header {' '.join(head)}")
        self.delivered = {}
        for r in rows:
            if r[0] in self.delivered:
                self.fail(f"order {r[0]} listed twice")
            self.delivered[r[0]] = {"placed": float(r[1]), "ready": float(r[2]), "pickup": float(r[3]),
                                    "drop": float(r[4]), "courier": r[5]}
        head, rows = table(os.path.join(self.sol, "solution_info_assignments.txt"))
        if head[:3] != ["assignment_time", "pickup_time", "courier"]:
            self.fail(f"solution_info_assignments.txt: header {' '.join(head)}")
        self.trips = [{"at": float(r[0]), "pickup": float(r[1]), "courier": r[2], "orders": r[3:]} for r in rows]
        head, rows = table(os.path.join(self.sol, "solution_info_couriers.txt"))
        if head != "courier departure_time origin destination".split():
            self.fail(f"solution_info_couriers.txt: header {' '.join(head)}")
        self.legs = {}
        for r in rows:
            self.legs.setdefault(r[0], []).append((float(r[1]), r[2], r[3]))

    def check_trip(self, t):
        inst, c = self.inst, self.inst["couriers"].get(t["courier"])
        if c is None or not t["orders"]:
            self.fail(f"assignment {t}: unknown courier or no orders")
            return
        rests = {inst["orders"][o]["rest"] for o in t["orders"] if o in inst["orders"]}
        if len(rests) != 1 or len(set(t["orders"])) != len(t["orders"]):
            self.fail(f"assignment at {t['at']} courier {t['courier']}: orders {t['orders']} not one restaurant")
        if t["at"] < c["on"]:
            self.fail(f"courier {t['courier']} assigned at {t['at']} before its shift {c['on']}")
        if t["pickup"] > c["off"]:
            self.fail(f"courier {t['courier']} picks up at {t['pickup']} after its off time {c['off']}")
        for o in t["orders"]:
            od, dv = inst["orders"].get(o), self.delivered.get(o)
            if od is None or dv is None:
                self.fail(f"order {o} assigned but unknown or not in the orders file")
                continue
            if t["at"] < od["placed"]:
                self.fail(f"order {o} assigned at {t['at']} before placement {od['placed']}")
            if t["pickup"] < od["ready"]:
                self.fail(f"order {o} picked up at {t['pickup']} before ready {od['ready']}")
            if (dv["placed"], dv["ready"]) != (od["placed"], od["ready"]):
                self.fail(f"order {o}: placement/ready differ from the instance")
            if dv["courier"] != t["courier"] or dv["pickup"] != t["pickup"]:
                self.fail(f"order {o}: courier or pickup differ from its assignment")

    def walk_trip(self, courier, t, legs, i, pos, free):
        """Legs i.. carry trip t; returns (next leg, position, time free)."""
        inst, ps, ds = self.inst, self.inst["ps"] / 2, self.inst["ds"] / 2
        rest = inst["orders"][t["orders"][0]]["rest"]
        want = [rest] + t["orders"]
        if i + len(want) > len(legs):
            self.fail(f"courier {courier}: legs missing for the trip assigned at {t['at']}")
            return len(legs), pos, free
        for k, dest in enumerate(want):
            dep, origin, to = legs[i + k]
            if to != dest:
                self.fail(f"courier {courier}: leg to {to}, expected {dest} (sequence)")
            if origin != pos:
                self.fail(f"courier {courier}: leg from {origin} but it is at {pos} (teleport)")
            if dep < free or (k == 0 and dep < t["at"]):
                self.fail(f"courier {courier}: leaves {origin} at {dep} before it is free at {free}")
            arrive = dep + travel(inst, self.place(courier, origin), self.place(courier, to))
            if k == 0:
                if t["pickup"] < arrive + ps:
                    self.fail(f"courier {courier}: pickup {t['pickup']} before arrival {arrive} + service")
                free = t["pickup"] + ps
            else:
                drop = self.delivered.get(to, {}).get("drop")
                if drop != arrive + ds:
                    self.fail(f"order {to}: drop-off {drop}, expected {arrive + ds}")
                free = arrive + 2 * ds
            pos = to
        return i + len(want), pos, free

    def check_courier(self, courier, trips):
        legs = sorted(self.legs.get(courier, []), key=lambda l: l[0])
        i, pos, free = 0, "0", self.inst["couriers"][courier]["on"]
        for t in sorted(trips, key=lambda t: t["at"]):
            i, pos, free = self.walk_trip(courier, t, legs, i, pos, free)
        if i != len(legs):
            self.fail(f"courier {courier}: {len(legs) - i} legs belong to no assignment")

    def run(self):
        self.read()
        assigned = {}
        for t in self.trips:
            self.check_trip(t)
            for o in t["orders"]:
                if o in assigned:
                    self.fail(f"order {o} assigned twice")
                assigned[o] = t
        for o in self.delivered:
            if o not in assigned:
                self.fail(f"order {o} delivered without an assignment")
        by_courier = {}
        for t in self.trips:
            if t["courier"] in self.inst["couriers"]:
                by_courier.setdefault(t["courier"], []).append(t)
        for c in set(by_courier) | set(self.legs):
            if c not in self.inst["couriers"]:
                self.fail(f"unknown courier {c}")
                continue
            self.check_courier(c, by_courier.get(c, []))
        return self.errors


def main():
    if len(sys.argv) != 3:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    try:
        inst = load_instance(sys.argv[1])
        chk = Checker(inst, sys.argv[2])
        errors = chk.run()
    except (OSError, ValueError, IndexError, KeyError) as e:
        print(f"check.py: {e}", file=sys.stderr)
        return 2
    for e in errors[:50]:
        print(e)
    if errors:
        print(f"INFEASIBLE: {len(errors)} violations")
        return 1
    print(f"feasible: {len(chk.delivered)} of {len(inst['orders'])} orders delivered, {len(chk.trips)} assignments")
    return 0


if __name__ == "__main__":
    sys.exit(main())
