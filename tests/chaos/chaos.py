#!/usr/bin/env python3
"""Chaos run: the whole stack (two rx-routers, two dispatchers, both
gateways) under a steady stream of prescriptions from citysim, while services
are SIGKILLed and restarted, redis-server is restarted (AOF on) and Kafka
fails. On the embedded broker (the default) the broker goes down, answers
with errors and slows down; on a real three-node Apache Kafka cluster
(--kafka kafka, scripts/kafka) the faults are a real cluster's, in turn:
SIGKILL of the leader of an rx.approved partition and of an order.events
partition, a broker SIGSTOPped for longer than its session then SIGCONTed (a
zombie), two of three brokers down for --outage-s, SIGKILL of the group
coordinator of the rx-router and dispatcher groups, and a rolling restart of
every broker. Then it drains and checks, from Redis and from the whole
order.events log:

  - every prescription sent has exactly one order;
  - every order is in a final state;
  - per order the sequence numbers are 1..n without gaps, and a repeated
    (order_id, seq) is the same event (a redelivery), never a different one;
  - no pharmacy held two offers of one order at once;
  - no courier ever held more orders than its capacity;
  - every delivered order was picked up by the courier that delivered it;
  - per order, events arrive on the topic in sequence order (a new sequence
    number only after its predecessor; a repeat of an old one is a
    redelivery, counted apart).

It also measures the longest time an order stood still waiting for Kafka:
from a prescription entering rx.approved to its order's first event (intake),
and from an event written in Redis to its entering order.events (the
outbox). It prints the figures and exits 1 on any loss, doubling or event out
of sequence.

  tests/chaos/chaos.py [--kafka embedded|kafka] [--duration 60] [--rate 5]
                       [--kills 20] [--redis-restarts 2] [--broker-faults 5]
                       [--outage-s 60] [--zombie-s 15] [--redis-kill] [--seed 1] ...

Redis is restarted with SIGTERM (it writes its AOF and reloads it) and runs
appendfsync everysec, as the development stack does; --redis-kill restarts it
with SIGKILL instead and runs it with appendfsync always, since a killed
everysec server may lose its last second of writes (docs/architecture.md).
Needs a build (RXD_BUILD_DIR, default build/)."""
import argparse
import json
import os
import shutil
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import BUILD, Stack, wait_until  # noqa: E402

CITYSIM = os.path.join(BUILD, "loadtest", "citysim", "citysim")
FINAL = {"DELIVERED", "COLLECTED", "CANCELLED", "UNROUTABLE", "RETURNED"}
KILLABLE = ["rx-router", "rx-router-2", "dispatcher", "dispatcher-2", "pharmacy-gw",
            "courier-gw"]
RELEASES = {"courier_declined", "courier_timeout", "delivered", "cancelled", "returned"}

# Looks up every prescription of a run in one call: [missing, then order id
# and state pairs]. KEYS[1] is the region's anchor (cluster slot).
LOOKUP_LUA = """
local P, run, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
for i = 1, n do
  local pid = string.format('%s-rx-%06d', run, i)
  local oid = redis.call('GET', P .. 'rx:' .. pid)
  if oid then
    out[#out + 1] = pid
    out[#out + 1] = oid
    out[#out + 1] = redis.call('HGET', P .. 'ord:' .. oid, 'state') or ''
  else
    out[#out + 1] = pid
    out[#out + 1] = ''
    out[#out + 1] = ''
  end
end
return out
"""
PREFIX = "rxd:{default}:"


class Chaos:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.figures = Counter()
        self.real = args.kafka == "kafka"
        self.faults = []  # (kind, start, end) of each Kafka fault

    def say(self, msg):
        line = "[chaos %6.1fs] %s" % (time.time() - self.t0, msg)
        print(line, flush=True)

    # ---- the stack and its faults ----

    def redis_cli(self, *args):
        port = self.stack.vars["RXD_REDIS_URL"].rsplit(":", 1)[1]
        return subprocess.run(["redis-cli", "-p", port, "--raw"] + list(args),
                              capture_output=True, text=True, timeout=60)

    def broker(self, command):
        host, port = self.stack.vars["RXD_DEVBROKER_CONTROL"].split(":")
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall((command + "\n").encode())
            reply = s.makefile().readline().strip()
        if not reply.startswith("ok"):
            raise RuntimeError("devbroker refused %r: %s" % (command, reply))
        return reply

    def kill_one(self):
        name = KILLABLE[self.figures["kills"] % len(KILLABLE)] if self.figures["kills"] < len(
            KILLABLE) else self.rng.choice(KILLABLE)
        self.say("SIGKILL %s" % name)
        self.stack.kill(name, 9)
        self.figures["kills"] += 1
        time.sleep(self.rng.uniform(0.2, 2.0))
        self.stack.start(name, wait_ready=False)
        self.figures["restarts"] += 1

    def restart_redis(self):
        sig = 9 if self.args.redis_kill else 15
        self.say("restart redis-server (%s, AOF reload)" % ("SIGKILL" if sig == 9 else "SIGTERM"))
        self.stack.kill("redis", sig)
        time.sleep(self.rng.uniform(0.5, 2.0))
        self.stack.start("redis", wait_ready=False)
        wait_until(lambda: self.redis_cli("PING").stdout.strip() == "PONG", 60, "redis back")
        self.figures["redis_restarts"] += 1

    def broker_fault(self):
        kind = ["down", "produce", "fetch", "commit", "latency"][self.figures["broker_faults"] % 5]
        self.say("broker fault: %s" % kind)
        if kind == "down":
            self.broker("broker down 1")
            time.sleep(self.rng.uniform(2.0, 5.0))
            self.broker("broker up 1")
        elif kind == "produce":
            self.broker("errors Produce 8 NOT_LEADER_FOR_PARTITION")
        elif kind == "fetch":
            self.broker("errors Fetch 8 NOT_LEADER_FOR_PARTITION")
        elif kind == "commit":
            self.broker("errors OffsetCommit 6 NOT_COORDINATOR")
        else:
            self.broker("rtt 1 400")
            time.sleep(self.rng.uniform(3.0, 6.0))
            self.broker("rtt 1 0")
        self.figures["broker_faults"] += 1

    # ---- a real cluster's faults (scripts/kafka) ----

    def kafka(self, *args):
        return self.stack.kafka(*args)

    def leader_of(self, topic):
        part = self.rng.randrange(12)
        return int(self.kafka("leader", topic, part)), part

    def bring_back(self, *nodes):
        self.kafka("start", *nodes)

    def kafka_fault(self):
        kinds = ["leader-approved", "leader-events", "zombie", "two-down", "coordinator",
                 "rolling"]
        kind = kinds[self.figures["broker_faults"] % len(kinds)]
        a = self.args
        t = time.time()
        if kind in ("leader-approved", "leader-events"):
            topic = "rx.approved" if kind == "leader-approved" else "order.events"
            node, part = self.leader_of(topic)
            self.say("kafka: SIGKILL node %d, leader of %s/%d" % (node, topic, part))
            self.kafka("kill", node)
            time.sleep(self.rng.uniform(3.0, 8.0))
            self.bring_back(node)
        elif kind == "zombie":
            node = self.rng.randrange(1, 4)
            self.say("kafka: SIGSTOP node %d for %d s (a zombie), then SIGCONT" % (node, a.zombie_s))
            self.kafka("stop", node)
            time.sleep(a.zombie_s)
            self.kafka("cont", node)
        elif kind == "two-down":
            up = self.rng.randrange(1, 4)
            down = [n for n in (1, 2, 3) if n != up]
            self.say("kafka: SIGKILL nodes %s for %d s (one of three left)" % (down, a.outage_s))
            for n in down:
                self.kafka("kill", n)
            time.sleep(a.outage_s)
            self.bring_back(*down)
        elif kind == "coordinator":
            group = self.rng.choice(["rx-router", "dispatcher"])
            node = int(self.kafka("coordinator", group))
            self.say("kafka: SIGKILL node %d, coordinator of group %s" % (node, group))
            self.kafka("kill", node)
            time.sleep(self.rng.uniform(3.0, 8.0))
            self.bring_back(node)
        else:
            self.say("kafka: rolling restart of nodes 1, 2, 3")
            for n in (1, 2, 3):
                self.kafka("restart", n)
                self.wait_in_sync()
        self.faults.append((kind, t, time.time()))
        self.figures["broker_faults"] += 1
        self.figures["kafka_" + kind.replace("-", "_")] += 1

    def wait_in_sync(self, timeout=120):
        """Until every partition has all three replicas in sync again (a
        rolling restart moves on only then, as an operator's would)."""
        def in_sync():
            p = self.stack.rxctl("metadata", check=False)
            if p.returncode != 0:
                return False
            md = json.loads(p.stdout)
            return all(len(x["isr"]) == 3 for parts in md["topics"].values() for x in parts)
        wait_until(in_sync, timeout, "all replicas in sync")

    @staticmethod
    def tail(path, n=20):
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])

    def count_in_logs(self, event):
        """How many log lines of the services name this event (all restarts
        of each write to one file)."""
        n = 0
        logs = os.path.join(self.stack.dir, "logs")
        for name in os.listdir(logs):
            with open(os.path.join(logs, name), errors="replace") as f:
                n += sum(1 for line in f if '"event":"%s"' % event in line)
        return n

    def wait_registered(self, sim, log, timeout=120):
        """Returns once citysim has registered its city (its "run ..." line)
        or has exited; the exit is reported after the run."""
        deadline = time.time() + timeout
        while time.time() < deadline and sim.poll() is None:
            with open(log, errors="replace") as f:
                if "citysim: run " in f.read():
                    return
            time.sleep(0.2)

    def run_faults(self):
        """Injects every planned fault at a random moment within the first
        90% of the load; one that falls due late is injected at once."""
        a = self.args
        plan = (["kill"] * a.kills + ["redis"] * a.redis_restarts +
                ["broker"] * a.broker_faults)
        self.rng.shuffle(plan)
        start = time.time()
        times = sorted(self.rng.uniform(0, a.duration * 0.9) for _ in plan)
        for at, what in zip(times, plan):
            delay = start + at - time.time()
            if delay > 0:
                time.sleep(delay)
            try:
                {"kill": self.kill_one, "redis": self.restart_redis,
                 "broker": self.kafka_fault if self.real else self.broker_fault}[what]()
            except Exception as e:  # a fault that could not be injected is reported
                self.say("fault %s failed: %s" % (what, e))
                self.figures["fault_errors"] += 1

    # ---- the run ----

    def run(self):
        a = self.args
        self.t0 = time.time()
        services = ["rx-router", "rx-router", "pharmacy-gw", "courier-gw", "dispatcher",
                    "dispatcher"]
        self.stack = Stack(services=services, RXD_OFFER_DEADLINE_MS=10000,
                           RXD_COURIER_DEADLINE_MS=10000, RXD_SHUTDOWN_TIMEOUT_MS=5000,
                           RXD_ROUTE_LEASE_MS=4000, RXD_STACK_KAFKA=a.kafka,
                           RXD_STACK_REDIS_FSYNC="always" if a.redis_kill else "everysec",
                           # the idempotent producer's state changes (epoch
                           # bumps, possibly-persisted failures) in the logs
                           # kept from a failed run
                           **({"RXD_KAFKA_DEBUG": "eos", "RXD_LOG_LEVEL": "debug"}
                              if a.kafka == "kafka" else {})).up()
        self.say("stack up in %s" % self.stack.dir)
        rc = 2
        try:
            rc = self.drive()
            return rc
        finally:
            if rc != 0:
                self.keep_logs()
            if a.keep:
                print("stack left running in", self.stack.dir)
            else:
                self.stack.down()

    def keep_logs(self):
        """A failed run's service logs, the Kafka nodes' logs and the segments
        of order.events are copied out of the stack before it goes: a lost
        event is found there."""
        dest = os.path.join(os.environ.get("RXD_ARTIFACTS", os.getcwd()), "chaos-artifacts",
                            "%s-seed%d" % (self.args.kafka, self.args.seed))
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(os.path.join(self.stack.dir, "logs"), os.path.join(dest, "logs"),
                        ignore_dangling_symlinks=True)
        # the nodes' logs and order.events' segments (a small run's are small)
        kafka = os.path.join(self.stack.dir, "kafka")
        for root, dirs, files in os.walk(kafka) if os.path.isdir(kafka) else []:
            rel = os.path.relpath(root, kafka)
            if rel == "logs" or "/order.events-" in "/" + rel:
                shutil.copytree(root, os.path.join(dest, "kafka", rel), dirs_exist_ok=True)
        self.say("the run failed: its logs are kept in %s" % dest)

    def drive(self):
        a = self.args
        self.run_id = "chaos%d" % a.seed
        summary = os.path.join(self.stack.dir, "citysim.json")
        logf = open(os.path.join(self.stack.dir, "logs", "citysim.log"), "w")
        sim = subprocess.Popen(
            [CITYSIM, "--pharmacies", str(a.pharmacies), "--couriers", str(a.couriers),
             "--rate", str(a.rate), "--duration", str(a.duration), "--drain", str(a.drain),
             "--speedup", "30", "--radius-m", "3000", "--seed", str(a.seed),
             "--run-id", self.run_id, "--summary-json", summary],
            env=self.stack.env, stdout=logf, stderr=subprocess.STDOUT)
        # Faults hit the running city, not its registration: a Redis restart
        # during the set-up makes citysim stop before any prescription.
        self.wait_registered(sim, os.path.join(self.stack.dir, "logs", "citysim.log"))
        faults = threading.Thread(target=self.run_faults)
        faults.start()
        faults.join()
        self.say("faults over: %s; draining" % dict(self.figures))
        sim_rc = sim.wait(timeout=a.drain + 120)
        logf.close()
        if not os.path.exists(summary):
            raise RuntimeError("citysim exited %d without a summary; its last lines:\n%s" %
                               (sim_rc, self.tail(os.path.join(self.stack.dir, "logs",
                                                               "citysim.log"))))
        with open(summary) as f:
            self.summary = json.load(f)
        self.say("citysim exited %d: %d sent, states %s" % (
            sim_rc, self.summary["prescriptions_sent"], self.summary["states"]))
        return self.check()

    # ---- the invariants ----

    def check(self):
        sent = self.summary["prescriptions_sent"]
        lost, doubled = [], []
        # Redis: one order per prescription, all final (wait for stragglers)
        def lookup():
            r = self.redis_cli("EVAL", LOOKUP_LUA, "1", PREFIX + "anchor", PREFIX, self.run_id,
                               str(sent))
            rows = r.stdout.splitlines()
            return [rows[i:i + 3] for i in range(0, len(rows), 3)]

        deadline = time.time() + 120
        while True:
            rows = lookup()
            pending = [r for r in rows if r[2] not in FINAL]
            if not pending or time.time() > deadline:
                break
            time.sleep(1)
        for pid, oid, state in rows:
            if not oid:
                lost.append("prescription %s has no order" % pid)
            elif state not in FINAL:
                lost.append("order %s (%s) left in %s" % (oid, pid, state))
        if len(rows) != sent:
            lost.append("looked up %d prescriptions of %d" % (len(rows), sent))
        orders = {oid: pid for pid, oid, _ in rows if oid}

        events = self.stack.events(idle_ms=4000)
        events.sort(key=lambda e: (e["_partition"], e["_offset"]))
        by_order = defaultdict(dict)
        redelivered = 0
        out_of_sequence = []
        outbox_wait = []  # (ms from Redis to Kafka, order, seq)
        orders_of_rx = defaultdict(set)
        for e in events:
            if not e["prescription_id"].startswith(self.run_id + "-rx-"):
                continue
            e.pop("_partition", None)
            e.pop("_offset", None)
            entered = e.pop("_timestamp_ms", None)
            if entered is not None and e["seq"] not in by_order[e["order_id"]]:
                outbox_wait.append((entered - e["at_ms"], e["order_id"], e["seq"]))
                if e["seq"] != len(by_order[e["order_id"]]) + 1:
                    out_of_sequence.append("order %s: seq %d arrived after %s" % (
                        e["order_id"], e["seq"], sorted(by_order[e["order_id"]])))
            orders_of_rx[e["prescription_id"]].add(e["order_id"])
            seen = by_order[e["order_id"]].get(e["seq"])
            if seen is None:
                by_order[e["order_id"]][e["seq"]] = e
            elif seen == e:
                redelivered += 1
            else:
                doubled.append("order %s seq %d twice with different content" % (
                    e["order_id"], e["seq"]))
        for pid, oids in orders_of_rx.items():
            if len(oids) != 1:
                doubled.append("prescription %s has orders %s" % (pid, sorted(oids)))
        for oid in orders:
            if oid not in by_order:
                lost.append("order %s has no events" % oid)
        capacity = self.courier_capacities()
        holding = defaultdict(set)
        timeline = []
        for oid, seqs in by_order.items():
            got = sorted(seqs)
            if got != list(range(1, len(got) + 1)):
                lost.append("order %s has sequence numbers %s" % (oid, got))
                continue
            evs = [seqs[s] for s in got]
            if evs[-1]["state"] not in FINAL:
                lost.append("order %s's last event is %s" % (oid, evs[-1]["state"]))
            for prev, cur in zip(evs, evs[1:]):
                if prev["state"] == "OFFERED" and cur["state"] == "OFFERED":
                    doubled.append("order %s offered twice at once (%s, %s)" % (
                        oid, prev["pharmacy_id"], cur["pharmacy_id"]))
            picked = [e["courier_id"] for e in evs if e["state"] == "PICKED_UP"]
            for e in evs:
                if e["state"] == "DELIVERED" and e["courier_id"] not in picked:
                    doubled.append("order %s delivered by %s, picked up by %s" % (
                        oid, e["courier_id"], picked))
                if e["kind"] == "courier_assigned" or e["kind"] in RELEASES:
                    timeline.append((e["at_ms"], 0 if e["kind"] in RELEASES else 1, oid, e))
        # replay the couriers' holdings in time order (releases first within
        # a millisecond, since the state machine orders what the clock cannot)
        for at, _, oid, e in sorted(timeline, key=lambda t: (t[0], t[1])):
            c = e["courier_id"]
            if not c:
                continue
            if e["kind"] == "courier_assigned":
                holding[c].add(oid)
                if len(holding[c]) > capacity.get(c, 1):
                    doubled.append("courier %s held %d orders (capacity %d) at %d" % (
                        c, len(holding[c]), capacity.get(c, 1), at))
            else:
                holding[c].discard(oid)
        self.stalls(by_order, outbox_wait)
        self.figures.update({"prescriptions": sent, "orders": len(orders),
                             "events": sum(len(s) for s in by_order.values()),
                             "redelivered_events": redelivered,
                             "unconfirmed_acks": self.count_in_logs("kafka_delivery_unconfirmed"),
                             "lost": len(lost),
                             "doubled": len(doubled), "out_of_sequence": len(out_of_sequence)})
        self.report(lost, doubled + out_of_sequence)
        return 1 if lost or doubled or out_of_sequence else 0

    def stalls(self, by_order, outbox_wait):
        """The longest waits on Kafka: intake (rx.approved -> the order's
        first event) and outbox (Redis -> order.events), with the fault
        active at the time."""
        entered = {}
        for m in self.stack.events(topic="rx.approved", idle_ms=3000):
            entered.setdefault(m.get("key", ""), m.get("_timestamp_ms"))
        intake = []
        for oid, seqs in by_order.items():
            first = seqs.get(1)
            if first and entered.get(first["prescription_id"]) is not None:
                intake.append((first["at_ms"] - entered[first["prescription_id"]], oid, 1))
        self.stall = {}
        self.worst_intake = sorted(
            ((w, oid, (entered[by_order[oid][1]["prescription_id"]] / 1000.0) - self.t0)
             for w, oid, _ in intake), reverse=True)[:5]
        for name, waits in (("intake", intake), ("outbox", outbox_wait)):
            if not waits:
                continue
            waits.sort()
            worst = waits[-1]
            self.stall[name] = {"max_ms": worst[0], "p50_ms": waits[len(waits) // 2][0],
                                "p99_ms": waits[int(len(waits) * 0.99)][0], "order": worst[1],
                                "during": self.fault_at((entered.get(by_order[worst[1]][1][
                                    "prescription_id"]) or 0) if name == "intake" else
                                    by_order[worst[1]][worst[2]]["at_ms"])}

    def fault_at(self, ms):
        for kind, start, end in self.faults:
            if start * 1000 - 1000 <= ms <= end * 1000 + 60000:
                return kind
        return "-"

    def courier_capacities(self):
        r = self.redis_cli("EVAL", """
local out = {}
for _, k in ipairs(redis.call('KEYS', ARGV[1] .. 'co:*')) do
  local cap = redis.call('TYPE', k)['ok'] == 'hash' and redis.call('HGET', k, 'capacity')
  if cap then out[#out + 1] = redis.call('HGET', k, 'id'); out[#out + 1] = cap end
end
return out""", "1", PREFIX + "anchor", PREFIX)
        rows = r.stdout.splitlines()
        return {rows[i]: int(rows[i + 1]) for i in range(0, len(rows) - 1, 2)}

    def report(self, lost, doubled):
        print()
        print("chaos run %s: seed %d, %.0f s" % (self.run_id, self.args.seed,
                                                time.time() - self.t0))
        kinds = sorted(k for k in self.figures if k.startswith("kafka_"))
        for k in ["kills", "restarts", "redis_restarts", "broker_faults"] + kinds + [
                "fault_errors", "prescriptions", "orders", "events", "redelivered_events",
                "unconfirmed_acks",
                "lost", "doubled", "out_of_sequence"]:
            print("  %-20s %8d" % (k, self.figures[k]))
        print("  final states         %s" % json.dumps(self.summary.get("states")))
        for name, st in sorted(getattr(self, "stall", {}).items()):
            print("  longest %-6s wait  %8d ms (p50 %d, p99 %d; order %s; fault: %s)" % (
                name, st["max_ms"], st["p50_ms"], st["p99_ms"], st["order"], st["during"]))
        for w, oid, at in getattr(self, "worst_intake", []):
            print("    intake %s: %d ms, produced at %.1fs" % (oid, w, at))
        for line in (lost + doubled)[:50]:
            print("  !! " + line)
        print("%d passed, %d failed" % (1 if not (lost or doubled) else 0,
                                         1 if (lost or doubled) else 0))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=60, help="seconds of load and faults")
    p.add_argument("--rate", type=float, default=5, help="prescriptions per second")
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--redis-restarts", type=int, default=2)
    p.add_argument("--broker-faults", type=int, default=5,
                   help="Kafka faults (each kind in turn: 5 kinds embedded, 6 on a real cluster)")
    p.add_argument("--kafka", choices=["embedded", "kafka"],
                   default=os.environ.get("RXD_STACK_KAFKA", "embedded"),
                   help="the embedded broker or a real three-node cluster (scripts/kafka)")
    p.add_argument("--outage-s", type=int, default=60, help="two of three brokers down this long")
    p.add_argument("--zombie-s", type=int, default=15,
                   help="a broker stopped this long (above its 9 s session)")
    p.add_argument("--pharmacies", type=int, default=80)
    p.add_argument("--couriers", type=int, default=60)
    p.add_argument("--drain", type=int, default=180, help="citysim's drain seconds")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--redis-kill", action="store_true",
                   help="restart redis with SIGKILL (the stack then runs appendfsync always)")
    p.add_argument("--keep", action="store_true", help="leave the stack running")
    sys.exit(Chaos(p.parse_args()).run())


if __name__ == "__main__":
    main()
