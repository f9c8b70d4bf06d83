#!/usr/bin/env python3
"""Container run: the stack of deploy/podman-up (redis, Kafka, two
containers each of rx-router, dispatcher, pharmacy-gw and courier-gw from the
rxdispatch image, haproxy in front of the gateways) under a stream of
prescriptions from citysim, end to end to DELIVERED. Mid-stream one
container of each service is SIGKILLed and left dead, so the survivors must
take over its partitions, queues and HTTP traffic. Then the checks of the
chaos run (tests/chaos/chaos.py), from Redis and the whole order.events log:
every prescription has exactly one order, every order is final, sequence
numbers have no gaps and no doubles, no double offers, no courier over
capacity; plus: each killed container stayed dead and each survivor's own
counters grew after the kill.

Kafka is devbroker (--kafka dev, the default) or three real Apache Kafka
brokers (--kafka real: replication factor 3, min.insync.replicas=2, the
production topology). With real Kafka the active KRaft controller's broker
container is SIGKILLed too, before the services' kills, so those happen with
one broker down; it is started again later, and after the drain every
partition must have all three replicas in sync again.

Exits 77 (ctest's SKIP_RETURN_CODE) with the reason where this machine
cannot run podman containers (deploy/podman-up --check). Builds the image
(cached layers after the first time). Needs a build for citysim and rxctl
(RXD_BUILD_DIR, default build/).

  tests/deploy/test_containers.py [--kafka dev|real] [--duration 40] [--rate 3] [--keep]"""
import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "tests", "chaos"))
from harness import Stack, http_status, wait_until  # noqa: E402
from chaos import Chaos  # noqa: E402

DEPLOY = os.path.join(ROOT, "deploy")
SKIP = 77
# one container of each service is killed; the -2 of each must carry on.
# The counter that shows a survivor working, per service.
VICTIMS = [("rx-router", "rxd_router_messages_total"),
           ("dispatcher", "rxd_dispatcher_assignments_total"),
           ("pharmacy-gw", "rxd_http_requests_total"),
           ("courier-gw", "rxd_http_requests_total")]


def podman(*args, check=True, timeout=120):
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", os.path.join(DEPLOY, "podman", "containers.conf"))
    p = subprocess.run(["podman"] + list(args), env=env, capture_output=True, text=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("podman %s failed: %s" % (" ".join(args), p.stderr.strip()))
    return p.stdout.strip()


def metric(url, name):
    """The value of a Prometheus counter at url/metrics (summed over labels)."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def free_port_block(size=50):
    """A base port whose next size ports are free on 127.0.0.1 now, so runs
    of this test (and other stacks) on one machine do not collide."""
    for _ in range(200):
        base = random.randrange(20000, 30000, 100)
        socks = []
        try:
            for port in range(base, base + size):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no block of %d free ports" % size)


class ContainerStack(Stack):
    """harness.Stack's interface (vars, env, rxctl, events) over the
    containers of deploy/podman-up; instances are named <service>-1/-2."""

    def __init__(self, prefix, port_base, kafka, **env):
        super().__init__(**env)
        self.prefix = prefix
        self.env["RXD_PODMAN_PREFIX"] = prefix
        self.env["RXD_PODMAN_KAFKA"] = kafka
        self.env["RXD_PODMAN_DIR"] = self.dir
        self.env["RXD_PODMAN_PORT_BASE"] = str(port_base)
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)

    def up(self):
        t = time.time()
        subprocess.run([os.path.join(DEPLOY, "podman-up")], env=self.env, check=True,
                       stdout=subprocess.DEVNULL, timeout=1500)
        self.up_seconds = time.time() - t
        # the "export NAME=value" lines of scripts/stack's env file
        with open(os.path.join(self.dir, "stack.env")) as f:
            self.vars.update(line.split(None, 1)[1].strip().split("=", 1) for line in f)
        self.env.update(self.vars)
        return self

    def down(self, keep_logs=False):
        """Saves every container's log under dir/logs, removes the stack,
        and the directory too unless keep_logs (a failed run)."""
        for name in podman("ps", "-a", "--filter", "label=rxd.stack=" + self.prefix,
                           "--format", "{{.Names}}", check=False).split():
            with open(os.path.join(self.dir, "logs", name + ".log"), "w") as f:
                subprocess.run(["podman", "logs", name], stdout=f, stderr=subprocess.STDOUT,
                               env=dict(os.environ, CONTAINERS_CONF=self.env.get(
                                   "CONTAINERS_CONF", os.path.join(DEPLOY, "podman",
                                                                   "containers.conf"))))
        subprocess.run([os.path.join(DEPLOY, "podman-down")], env=self.env, timeout=300,
                       stdout=subprocess.DEVNULL)
        if keep_logs or os.environ.get("RXD_KEEP_STACK"):
            print("container logs kept in", os.path.join(self.dir, "logs"))
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def container(self, instance):
        return "%s-%s" % (self.prefix, instance)

    def state(self, instance):
        return json.loads(podman("inspect", "--format", "{{json .State}}",
                                 self.container(instance)))

    def admin(self, instance):
        return self.vars["RXD_ADMIN_" + instance.upper().replace("-", "_")]

    def kill(self, instance, sig=9):
        podman("kill", "--signal", "KILL" if sig == 9 else str(sig), self.container(instance))
        wait_until(lambda: not self.state(instance)["Running"], 30, instance + " to stop")

    def kafka_tool(self, *args, timeout=120):
        """kafka-node (topics, quorum) run in a running broker container;
        its output, or None if it failed."""
        for n in (1, 2, 3):
            if not self.state("kafka-%d" % n)["Running"]:
                continue
            p = subprocess.run(
                ["podman", "exec", self.container("kafka-%d" % n), "kafka-node"] + list(args),
                env=dict(os.environ, CONTAINERS_CONF=os.path.join(DEPLOY, "podman",
                                                                  "containers.conf")),
                capture_output=True, text=True, timeout=timeout)
            return p.stdout if p.returncode == 0 else None
        return None

    def kafka_controller(self):
        """The node id of the active KRaft controller (1..3), None if unknown."""
        out = self.kafka_tool("quorum", "--bootstrap-server", self.vars["RXD_KAFKA_BROKERS"],
                              "describe", "--status")
        m = re.search(r"^LeaderId:\s*(\d+)", out or "", re.M)
        return int(m.group(1)) if m else None

    def under_replicated(self):
        """The partitions whose in-sync replicas are fewer than their
        replicas (TopicCommand's lines), None if the tool failed."""
        out = self.kafka_tool("topics", "--bootstrap-server", self.vars["RXD_KAFKA_BROKERS"],
                              "--describe", "--under-replicated-partitions")
        return None if out is None else [line for line in out.splitlines() if line.strip()]

    def kafka_starts(self, instance):
        """How often this broker container's log says it started."""
        p = subprocess.run(["podman", "logs", self.container(instance)], capture_output=True,
                           text=True, env=dict(os.environ, CONTAINERS_CONF=os.path.join(
                               DEPLOY, "podman", "containers.conf")))
        return (p.stdout + p.stderr).count("Kafka Server started")

    def start(self, instance, wait_ready=True):
        podman("start", self.container(instance))
        if wait_ready:
            wait_until(lambda: http_status(self.admin(instance) + "/readyz") == 200, 60,
                       instance + " ready")


class ContainerRun(Chaos):
    """The chaos run's load and checks; the faults are one SIGKILL of a
    container of each service, at 20 %, 35 %, 50 % and 65 % of the load
    (real Kafka: 25 %, 35 %, 45 %, 55 %, after the active controller's broker
    at 15 %, which is started again at 70 %), never restarted while the
    load and drain last."""

    def run(self):
        a = self.args
        self.t0 = time.time()
        self.stack = ContainerStack(
            a.prefix, a.port_base, a.kafka, RXD_OFFER_DEADLINE_MS=10000,
            RXD_COURIER_DEADLINE_MS=10000,
            RXD_SHUTDOWN_TIMEOUT_MS=5000, RXD_ROUTE_LEASE_MS=4000)
        rc = 1
        try:
            self.stack.up()
            self.say("containers up in %.0f s (image build included)" % self.stack.up_seconds)
            rc = self.drive()
            return rc
        finally:
            if a.keep:
                print("containers left running (deploy/podman-down with RXD_PODMAN_PREFIX=%s)"
                      % a.prefix)
            else:
                self.stack.down(keep_logs=rc != 0)

    def run_faults(self):
        a = self.args
        self.survivors = {}
        self.broker_victim = None
        if a.kafka == "real":
            # the active controller: its death moves the metadata quorum's
            # leadership as well as the partitions it leads
            self.broker_victim = "kafka-%d" % (self.stack.kafka_controller() or 1)
            schedule = [(0.15, "kill-broker")] + [
                (0.25 + 0.10 * i, v) for i, v in enumerate(VICTIMS)] + [(0.70, "start-broker")]
        else:
            schedule = [(0.20 + 0.15 * i, v) for i, v in enumerate(VICTIMS)]
        start = time.time()
        for at, what in schedule:
            delay = start + a.duration * at - time.time()
            if delay > 0:
                time.sleep(delay)
            if what == "kill-broker":
                self.say("SIGKILL broker container %s (the active controller)" %
                         self.stack.container(self.broker_victim))
                self.broker_starts = self.stack.kafka_starts(self.broker_victim)
                self.stack.kill(self.broker_victim, 9)
                self.figures["kills"] += 1
                self.figures["broker_kills"] += 1
                continue
            if what == "start-broker":
                self.say("starting broker container %s again" %
                         self.stack.container(self.broker_victim))
                self.stack.start(self.broker_victim, wait_ready=False)
                self.figures["broker_restarts"] += 1
                continue
            svc, counter = what
            survivor = svc + "-2"
            before = metric(self.stack.admin(survivor), counter)
            self.say("SIGKILL container %s (survivor %s: %s=%g)" % (
                self.stack.container(svc + "-1"), survivor, counter, before))
            self.stack.kill(svc + "-1", 9)
            self.figures["kills"] += 1
            self.survivors[svc] = (counter, before)
        time.sleep(max(0.0, start + a.duration - time.time()))

    def broker_rejoined(self):
        """The problems with the restarted broker: not running, not started
        again, partitions still short of in-sync replicas after a minute."""
        victim = self.broker_victim
        if not self.stack.state(victim)["Running"]:
            return ["%s is not running after its restart" % victim]
        deadline = time.time() + 60
        while self.stack.kafka_starts(victim) <= self.broker_starts:
            if time.time() > deadline:
                return ["%s did not start again within 60 s" % victim]
            time.sleep(1)
        deadline = time.time() + 60
        while True:
            short = self.stack.under_replicated()
            if short == [] or time.time() > deadline:
                break
            time.sleep(2)
        if short is None:
            return ["cannot describe the topics (kafka-node topics failed)"]
        self.say("after the restart of %s: %d partitions under-replicated" % (victim, len(short)))
        return ["under-replicated after the restart: " + line for line in short[:5]]

    def report(self, lost, doubled):
        took_over = []
        for svc, (counter, before) in self.survivors.items():
            dead = self.stack.state(svc + "-1")
            if dead["Running"]:
                took_over.append("%s-1 is running again" % svc)
            after = metric(self.stack.admin(svc + "-2"), counter)
            self.say("survivor %s-2: %s %g -> %g after the kill" % (svc, counter, before, after))
            if after <= before:
                took_over.append("%s-2 did no work after %s-1 died (%s %g -> %g)" % (
                    svc, svc, counter, before, after))
        if self.broker_victim:
            took_over += self.broker_rejoined()
        sent = self.summary["prescriptions_sent"]
        delivered = self.summary.get("states", {}).get("DELIVERED", 0)
        if sent < self.args.duration * self.args.rate * 0.5 or delivered < sent * 0.5:
            took_over.append("too little went through: %d sent, %d delivered" % (sent, delivered))
        self.figures["survivor_failures"] = len(took_over)
        print()
        print("container run %s (Kafka: %s): %.0f s" % (
            self.run_id, "3 Apache Kafka brokers" if self.args.kafka == "real" else "devbroker",
            time.time() - self.t0))
        keys = ["kills"]
        if self.args.kafka == "real":
            keys += ["broker_kills", "broker_restarts"]
        for k in keys + ["prescriptions", "orders", "events", "redelivered_events", "lost",
                         "doubled", "survivor_failures"]:
            print("  %-20s %8d" % (k, self.figures[k]))
        print("  final states         %s" % json.dumps(self.summary.get("states")))
        bad = lost + doubled + took_over
        for line in bad[:50]:
            print("  !! " + line)
        self.failed = bool(bad)
        print("%d passed, %d failed" % (0 if bad else 1, 1 if bad else 0))

    def check(self):
        rc = super().check()
        return 1 if rc or self.failed else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kafka", choices=("dev", "real"),
                   default=os.environ.get("RXD_PODMAN_KAFKA", "dev"),
                   help="devbroker or three Apache Kafka brokers (deploy/podman-up --kafka)")
    p.add_argument("--duration", type=int, default=40, help="seconds of load")
    p.add_argument("--rate", type=float, default=3, help="prescriptions per second")
    p.add_argument("--pharmacies", type=int, default=40)
    p.add_argument("--couriers", type=int, default=30)
    p.add_argument("--drain", type=int, default=150, help="citysim's drain seconds")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--prefix", default="rxd-test-%d" % os.getpid(),
                   help="container name prefix (default: one per run)")
    p.add_argument("--port-base", type=int, default=0,
                   help="first of the 48 ports deploy/podman-up uses (default: a free block)")
    p.add_argument("--keep", action="store_true", help="leave the containers running")
    args = p.parse_args()
    args.port_base = args.port_base or free_port_block()
    # the fields Chaos reads but this run does not use
    args.kills, args.redis_restarts, args.broker_faults, args.redis_kill = 4, 0, 0, False
    check = subprocess.run([os.path.join(DEPLOY, "podman-up"), "--kafka", args.kafka, "--check"],
                           capture_output=True, text=True)
    if check.returncode == SKIP:
        print("SKIP: " + check.stderr.strip().splitlines()[-1])
        sys.exit(SKIP)
    if check.returncode != 0:
        print(check.stderr)
        sys.exit(1)
    sys.exit(ContainerRun(args).run())


if __name__ == "__main__":
    main()
