"""The data lifecycle of an order (issue 14, docs/architecture.md "What lives
in Redis and for how long"), end to end on a stack: orders run to DELIVERED,
CANCELLED and UNROUTABLE each leave exactly one OrderClosed on order.closed
with their full record, Redis keeps only the closed record (no patient data,
an expiry of RXD_ORDER_RETENTION_S), and a prescription replayed after its
order closed makes no second order while its rx: key stands.

order.closed is decoded here from the bytes (rxctl prints them as
value_hex) with the field numbers read from proto/rxdispatch.proto, so the
check does not share code with the relay's encoder."""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, area, offset, prescription, uid, wait_until  # noqa: E402
from test_courier import CourierTestBase  # noqa: E402

RETENTION_S = 3600
PATIENT_FIELDS = ("patient", "address", "items", "code", "lat", "lon", "has_point")
LIVE_STATES = ("ROUTING", "OFFERED", "ACCEPTED", "READY", "COURIER_ASSIGNED", "PICKED_UP",
               "RETURNING")


# ---- a protobuf reader driven by the .proto ----

def proto_schema():
    """{message: {field number: (name, type, repeated)}}, {enum value: name}
    of OrderState, from proto/rxdispatch.proto."""
    with open(os.path.join(ROOT, "proto", "rxdispatch.proto")) as f:
        text = f.read()
    messages = {}
    for name, body in re.findall(r"message (\w+) \{(.*?)\n\}", text, re.S):
        fields = {}
        for rep, typ, fname, num in re.findall(r"^\s*(repeated )?(\w+) (\w+) = (\d+);", body,
                                               re.M):
            fields[int(num)] = (fname, typ, bool(rep))
        messages[name] = fields
    states_body = re.search(r"enum OrderState \{(.*?)\}", text, re.S).group(1)
    states = {int(n): s for s, n in re.findall(r"(\w+) = (\d+);", states_body)}
    return messages, states


SCHEMA, STATES = proto_schema()


def varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return v, i


def decode(buf, message):
    """The message as a dict by field name (repeated fields as lists)."""
    fields = SCHEMA[message]
    out = {name: [] for name, _, rep in fields.values() if rep}
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            raw, i = varint(buf, i)
        elif wire == 2:
            n, i = varint(buf, i)
            raw, i = buf[i:i + n], i + n
        elif wire == 1:
            raw, i = buf[i:i + 8], i + 8
        else:
            raw, i = buf[i:i + 4], i + 4
        if num not in fields:
            continue
        name, typ, rep = fields[num]
        if typ == "string":
            v = raw.decode()
        elif typ == "bool":
            v = bool(raw)
        elif typ == "OrderState":
            v = STATES[raw]
        elif typ == "double":
            import struct
            v = struct.unpack("<d", raw)[0]
        elif typ in SCHEMA:
            v = decode(raw, typ)
        else:
            v = raw
        if rep:
            out[name].append(v)
        else:
            out[name] = v
    return out


class LifecycleTest(CourierTestBase):
    STACK_ENV = {"RXD_ORDER_RETENTION_S": RETENTION_S}

    def prefix(self):
        return "rxd:{%s}:" % self.stack.vars.get("RXD_REGION", "default")

    def closed_records(self, oids):
        """{order id: [OrderClosed, ...]} of oids on order.closed, once each
        order has at least one."""
        found = {}

        def all_there():
            found.clear()
            for m in self.stack.events("order.closed", idle_ms=1000):
                rec = decode(bytes.fromhex(m["value_hex"]), "OrderClosed")
                if rec.get("order_id") in oids:
                    self.assertEqual(m["key"], rec["order_id"])
                    found.setdefault(rec["order_id"], []).append(rec)
            return set(found) == set(oids)

        wait_until(all_there, 30, "order.closed records of %s" % sorted(oids))
        return found

    def delivered_order(self):
        self.place()
        return super().delivered_order()

    def expect_only_closed_record(self, oid, state):
        k = self.prefix() + "ord:" + oid
        h = self.redis("HGETALL", k).splitlines()
        rec = dict(zip(h[0::2], h[1::2]))
        self.assertEqual(rec.get("state"), state, rec)
        for f in PATIENT_FIELDS:
            self.assertNotIn(f, rec, "closed record of %s keeps %s" % (oid, f))
        for f in ("id", "rx", "created_ms", "closed_ms", "t_" + state):
            self.assertIn(f, rec)
        ttl = int(self.redis("TTL", k))
        self.assertTrue(0 < ttl <= RETENTION_S, "TTL %d of %s" % (ttl, k))
        self.assertEqual(self.redis("EXISTS", k + ":tried", k + ":ctried"), "0")
        self.assertEqual(self.redis("LLEN", k + ":tl"), rec["seq"])
        self.assertTrue(0 < int(self.redis("TTL", k + ":tl")) <= RETENTION_S)
        for st in LIVE_STATES:
            self.assertEqual(self.redis("ZSCORE", self.prefix() + "idx:st:" + st, oid), "")
        rx_ttl = int(self.redis("TTL", self.prefix() + "rx:" + rec["rx"]))
        self.assertGreater(rx_ttl, 44 * 86400, "rx:%s expires too soon" % rec["rx"])
        return rec

    def expect_full_record(self, rec, oid, rx, state):
        self.assertEqual(rec["prescription_id"], rx["prescription_id"])
        self.assertEqual(rec["state"], state)
        self.assertEqual(rec["patient_ref"], rx["patient_ref"])
        self.assertEqual(rec["delivery_address"], rx["delivery_address"])
        self.assertAlmostEqual(rec["delivery"]["lat"], rx["delivery"]["lat"], places=5)
        self.assertEqual([(i["drug_code"], i["name"]) for i in rec["items"]],
                         [(i["drug_code"], i["name"]) for i in rx["items"]])
        events = self.stack.events(order_id=oid)
        self.assertEqual([(t.get("seq"), t.get("kind")) for t in rec["timeline"]],
                         [(e["seq"], e["kind"]) for e in events])
        self.assertEqual(rec["last_seq"], events[-1]["seq"])
        self.assertIn(state, [t["state"] for t in rec["state_times"]])
        self.assertGreater(rec["closed_at_ms"], 0)

    def test_final_states_publish_one_full_record_and_shrink(self):
        oid_d, cid = self.delivered_order()
        rx_d_id = self.stack.order(oid_d)["prescription_id"]
        # cancelled upstream while offered
        rx_c = prescription(uid("rx"), offset(self.pt, north_m=1500))
        self.stack.submit(rx_c)
        oid_c = self.stack.order_id(rx_c["prescription_id"])
        self.stack.wait_state(oid_c, "OFFERED")
        self.stack.rxctl("cancel", rx_c["prescription_id"], "--reason", "patient withdrew")
        self.stack.wait_state(oid_c, "CANCELLED")
        # expired before it was approved: final (no pharmacy near would be a hold)
        rx_u = prescription(uid("rx"), area(), expires_at_ms=int(time.time() * 1000) - 1000)
        self.stack.submit(rx_u)
        oid_u = self.stack.order_id(rx_u["prescription_id"])
        self.stack.wait_state(oid_u, "UNROUTABLE")

        records = self.closed_records({oid_d, oid_c, oid_u})
        for oid in (oid_d, oid_c, oid_u):
            self.assertEqual(len(records[oid]), 1, records[oid])
        d, c, u = records[oid_d][0], records[oid_c][0], records[oid_u][0]
        self.assertEqual(d["prescription_id"], rx_d_id)
        self.assertEqual((d["state"], d["pharmacy_id"], d["courier_id"]),
                         ("DELIVERED", self.ph, cid))
        self.assertEqual((d["pickup_proof"], d["handover_code_verified"]), ("position", True))
        self.assertTrue(d["patient_ref"] and d["delivery_address"] and d["items"], d)
        self.expect_full_record(c, oid_c, rx_c, "CANCELLED")
        self.assertEqual(c["reason"], "patient withdrew")
        self.assertEqual(c["pharmacies_tried"], [self.ph])
        self.expect_full_record(u, oid_u, rx_u, "UNROUTABLE")
        self.assertTrue(u["reason"], u)
        for oid, state in ((oid_d, "DELIVERED"), (oid_c, "CANCELLED"), (oid_u, "UNROUTABLE")):
            self.expect_only_closed_record(oid, state)
        # the operator's view still answers from the closed record
        self.assertEqual(self.stack.order(oid_c)["state"], "CANCELLED")

    def test_replay_after_close_makes_no_second_order(self):
        self.place()
        rx = prescription(uid("rx"), offset(self.pt, north_m=1500))
        self.stack.submit(rx)
        oid = self.stack.order_id(rx["prescription_id"])
        self.stack.wait_state(oid, "OFFERED")
        self.stack.rxctl("cancel", rx["prescription_id"], "--reason", "duplicate")
        self.stack.wait_state(oid, "CANCELLED")
        self.expect_only_closed_record(oid, "CANCELLED")
        orders_before = self.redis("HGETALL", self.prefix() + "ids")

        self.stack.submit(rx)  # the replay
        marker = '"order_exists"'

        def replay_seen():
            logs = ""
            for name in os.listdir(os.path.join(self.stack.dir, "logs")):
                if name.startswith("rx-router"):
                    logs += self.stack.log(name[:-len(".log")])
            return any(marker in line and rx["prescription_id"] in line
                       for line in logs.splitlines())

        wait_until(replay_seen, 30, "rx-router to see the replay of %s" % rx["prescription_id"])
        self.assertEqual(self.stack.order_id(rx["prescription_id"]), oid)
        self.assertEqual(self.redis("HGETALL", self.prefix() + "ids"), orders_before)
        self.assertEqual(self.stack.order(oid)["state"], "CANCELLED")
        kinds = [e["kind"] for e in self.stack.events(order_id=oid)]
        self.assertEqual(kinds.count("created"), 1, kinds)
        time.sleep(0.5)
        self.assertEqual(len(self.closed_records({oid})[oid]), 1)


if __name__ == "__main__":
    unittest.main()
