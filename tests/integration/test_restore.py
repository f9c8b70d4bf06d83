"""Redis restored from an older snapshot under a running stack (issue 14
item 2, docs/operations.md "Redis failover and restore"): orders made after
the snapshot are lost from Redis but their events are already on
order.events; after the runbook's steps (stop rx-router, bump the id
epoch, rewind rx-router's offsets to the snapshot time with `rxctl offsets
rewind`, start it) no order id is reused for another prescription, and
every prescription has exactly one live order.

Where the broker cannot rewind a group (the embedded broker, librdkafka's
mock cluster, refuses an offset commit from outside the group with
UNKNOWN_MEMBER_ID even after the members' sessions ended), the test submits
the prescriptions consumed since the snapshot again instead, as the
runbook says, and reports that it did."""
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import StackTest, area, offset, prescription, uid, wait_until  # noqa: E402

BATCH = 3


class RestoreTest(StackTest):

    def redis(self, *args, check=True):
        url = self.stack.vars["RXD_REDIS_URL"]
        return subprocess.run(["redis-cli", "-u", url] + list(args), capture_output=True,
                              text=True, check=check).stdout.strip()

    def prefix(self):
        return "rxd:{%s}:" % self.region()

    def region(self):
        return self.stack.vars.get("RXD_REGION", "default")

    def submit_batch(self, tag, pids=None, submit=True):
        """Submits prescriptions (or, submit=False, waits for the replay of
        pids) and waits until each has an order offered to the pharmacy."""
        pids = pids or [uid("rx-" + tag) for _ in range(BATCH)]
        for pid in pids:
            if submit:
                self.stack.submit(prescription(pid, offset(self.pt, north_m=800)))
        out = {pid: self.stack.order_id(pid, timeout=30) for pid in pids}
        for oid in out.values():
            self.stack.wait_state(oid, "OFFERED", timeout=30)
        return out

    def published(self, oids):
        """{order id: {prescription ids}} of oids' events on order.events,
        once every one of oids has its OFFERED event there."""
        seen = {}

        def all_there():
            seen.clear()
            offered = set()
            for e in self.stack.events():
                seen.setdefault(e["order_id"], set()).add(e["prescription_id"])
                self.assertEqual(e["region"], self.region(), e)
                if e["state"] == "OFFERED":
                    offered.add(e["order_id"])
            return set(oids) <= offered

        wait_until(all_there, 30, "the OFFERED events of %s" % sorted(oids))
        return seen

    def restore(self, snapshot):
        """Stops redis-server (its data since the snapshot is lost, as with a
        failover to a lagging replica) and starts it on the same port from
        the snapshot: the RDB as the base of the AOF, since the stack's Redis
        runs with appendonly yes and would ignore a bare dump.rdb."""
        self.stack.kill("redis", 9)
        aof = os.path.join(self.stack.dir, "redis", "appendonlydir")
        shutil.rmtree(aof)
        os.mkdir(aof)
        shutil.copy(snapshot, os.path.join(aof, "appendonly.aof.1.base.rdb"))
        with open(os.path.join(aof, "appendonly.aof.manifest"), "w") as f:
            f.write("file appendonly.aof.1.base.rdb seq 1 type b\n")
        self.stack.start("redis", wait_ready=False)
        wait_until(lambda: self.redis("PING", check=False) == "PONG", 30, "redis back")

    def test_restore_reuses_no_id_and_loses_no_prescription(self):
        self.pt = area()
        self.stack.register_pharmacy(uid("ph"), self.pt[0], self.pt[1], capacity=100)
        a = self.submit_batch("a")

        snap_ms = int(time.time() * 1000)
        self.assertEqual(self.redis("SAVE"), "OK")
        snapshot = os.path.join(self.stack.dir, "snapshot.rdb")
        shutil.copy(os.path.join(self.stack.dir, "redis", "dump.rdb"), snapshot)

        b = self.submit_batch("b")  # consumed, routed and published after the snapshot
        self.published(b.values())

        # the runbook: stop rx-router, restore, bump the id epoch, rewind
        # rx-router's offsets to the snapshot, start rx-router
        routers = sorted(n for n in self.stack.pids() if n.startswith("rx-router"))
        for name in routers:
            self.stack.kill(name, 15)
        self.restore(snapshot)
        for pid in b:  # lost with the data since the snapshot
            self.assertNotEqual(self.stack.rxctl("lookup", pid, check=False).returncode, 0, pid)
        self.assertEqual(self.redis("HINCRBY", self.prefix() + "ids", "epoch", "1"), "1")
        group = self.stack.vars.get("RXD_ROUTER_GROUP", "rx-router")
        rewind = {}

        def rewound():  # refused while the stopped routers are still members
            rewind["p"] = self.stack.rxctl("offsets", "rewind", "--group", group, "--to-ms",
                                           str(snap_ms), "rx.approved", "rx.cancelled",
                                           check=False)
            return rewind["p"].returncode == 0

        if self.stack.real_kafka:  # Kafka takes it once the members' sessions ended
            wait_until(rewound, 60, "the group %s to take the rewind" % group)
        else:  # the mock cluster refuses a commit from outside the group
            rewound()
        rewind = rewind["p"]
        for name in routers:
            self.stack.start(name)
        if rewind.returncode == 0:
            b2 = self.submit_batch("b", list(b), submit=False)
        else:
            print("\nno rewind on this broker (%s): prescriptions submitted again"
                  % rewind.stderr.strip(), file=sys.stderr)
            b2 = self.submit_batch("b", list(b))
        c = self.submit_batch("c")

        for pid in b:
            self.assertNotEqual(b2[pid], b[pid], "%s got its lost order's id again" % pid)
        # time-ordered: every id made after the restore sorts after every id before
        self.assertGreater(min(list(b2.values()) + list(c.values())),
                           max(list(a.values()) + list(b.values())))

        seen = self.published(list(a.values()) + list(b2.values()) + list(c.values()))
        for oid, pids in seen.items():
            self.assertEqual(len(pids), 1, "order id %s used for %s" % (oid, sorted(pids)))
        mine = {**a, **b2, **c}
        for pid, oid in mine.items():
            self.assertEqual(self.stack.rxctl("lookup", pid).stdout.strip(), oid)
            self.assertEqual(self.stack.order(oid)["state"], "OFFERED")
            on_topic = sorted(o for o, pids in seen.items() if pid in pids)
            live = [o for o in on_topic if self.stack.rxctl("order", o, check=False).returncode == 0]
            self.assertEqual(live, [oid], "%s: orders %s on order.events" % (pid, on_topic))


if __name__ == "__main__":
    unittest.main()
