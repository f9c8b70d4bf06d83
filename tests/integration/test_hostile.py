"""Hostile input (issue 4 item 3, SPEC sections 2, 6 and 7): every bad
message or request gets a clear error - the dead-letter topic for Kafka, a
JSON error for HTTP - and the service keeps serving: after each one a normal
request is still answered, and the next valid prescription is still routed
while nothing was created for the bad one.

Kafka input is built by hand in the proto3 wire format (so that it can carry
what rxctl submit would refuse: NaN, invalid UTF-8, NUL bytes), produced
with the same key as the valid prescription that follows it, so both land in
the same partition and the valid one is routed only if the consumer went
past the bad one. HTTP input goes through urllib or, where urllib would not
send it, a raw socket."""
import base64
import json
import math
import os
import socket
import struct
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (StackTest, area, http, http_status, offset, prescription, uid,  # noqa: E402
                     wait_until)

# ---- proto3 wire format (rxdispatch.v1.PrescriptionApproved) ----


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_varint(field, n):
    return varint(field << 3 | 0) + varint(n)


def f_double(field, x):
    return varint(field << 3 | 1) + struct.pack("<d", x)


def f_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(field << 3 | 2) + varint(len(data)) + data


def geopoint(lat, lon):
    return f_double(1, lat) + f_double(2, lon)


def item(code=b"PZN-100", name=b"Amoxicillin 500mg", qty=1):
    out = f_bytes(1, code) + f_bytes(2, name)
    if qty:
        out += f_varint(3, qty)
    return out


def approved(pid, point=None, address=b"Test street 1, flat 2", items=None,
             patient=b"pat-hostile", extra=b""):
    """The bytes of a PrescriptionApproved; None leaves a field out."""
    out = b""
    if pid is not None:
        out += f_bytes(1, pid)
    if patient is not None:
        out += f_bytes(2, patient)
    if point is not None:
        out += f_bytes(3, geopoint(*point))
    if address is not None:
        out += f_bytes(4, address)
    for it in (items if items is not None else [item()]):
        out += f_bytes(5, it)
    out += f_varint(9, int(time.time() * 1000))
    return out + extra


def error_of(test, status, body, want_status, code=None, message=None):
    """Asserts the SPEC section 6 error shape (and the status, code and a
    part of the message when given)."""
    test.assertEqual(status, want_status, body)
    test.assertIsInstance(body, dict, body)
    test.assertEqual(set(body), {"error"}, body)
    err = body["error"]
    test.assertIsInstance(err, dict, body)
    test.assertIsInstance(err.get("code"), str, body)
    test.assertIsInstance(err.get("message"), str, body)
    test.assertTrue(err["code"] and err["message"], body)
    if code:
        test.assertEqual(err["code"], code, body)
    if message:
        test.assertIn(message, err["message"], body)
    return err


def raw_request(base, data, timeout=10, send_timeout=None):
    """Sends data on a fresh connection to base (http://host:port) and reads
    until the response is complete or the server closes. Returns (status or
    None when the server closed without answering, headers, body bytes)."""
    u = urllib.parse.urlparse(base)
    s = socket.create_connection((u.hostname, u.port), timeout=timeout)
    resp = b""
    try:
        try:
            if send_timeout:
                s.settimeout(send_timeout)
            s.sendall(data)
            s.settimeout(timeout)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass  # the server stopped reading: what it answered is still readable
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                resp += b
                head, sep, body = resp.partition(b"\r\n\r\n")
                if sep:
                    m = [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length:")]
                    if m and len(body) >= int(m[0].split(b":", 1)[1]):
                        break
        except (ConnectionResetError, socket.timeout):
            pass
    finally:
        s.close()
    if not resp:
        return None, {}, b""
    head, _, body = resp.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        headers[k.decode().strip().lower()] = v.decode(errors="replace").strip()
    return status, headers, body


def host_of(base):
    return urllib.parse.urlparse(base).netloc


def now_ms():
    return int(time.time() * 1000)


class KafkaHostileTest(StackTest):
    """rx.approved input that cannot be decoded or breaks a rule: a dead
    letter with an `error` header naming the problem and `source-topic`,
    nothing created, and the consumer goes on."""
    SERVICES = ["rx-router", "pharmacy-gw"]

    def setUp(self):
        self.home = area()
        self.ph = uid("ph")
        self.stack.register_pharmacy(self.ph, *offset(self.home, east_m=200))
        self.point = offset(self.home, north_m=300)

    def dead_lettered(self, data, error, bad_pids=()):
        """Produces data, then a valid prescription with the same key; the
        valid one is routed, data is on rx.deadletter with error in its
        `error` header, and none of bad_pids has an order."""
        rx = prescription(uid("rx"), self.point)
        key = rx["prescription_id"]
        self.stack.produce_raw("rx.approved", key, data)
        self.stack.submit(rx)
        oid = self.stack.order_id(key)
        order = self.stack.wait_state(oid, "OFFERED")
        self.assertEqual(order["pharmacy_id"], self.ph)

        found = {}

        def letter():
            got = [d for d in self.stack.events("rx.deadletter", idle_ms=800) if d.get("key") == key]
            found["l"] = got
            return bool(got)

        wait_until(letter, 30, "the dead letter of " + key)
        self.assertEqual(len(found["l"]), 1, found["l"])
        dl = found["l"][0]
        self.assertIn(error, dl.get("error", ""), dl)
        self.assertEqual(dl.get("source-topic"), "rx.approved", dl)
        self.assertEqual(dl.get("value_bytes"), len(data), dl)
        for pid in bad_pids:
            p = self.stack.rxctl("lookup", pid, check=False)
            self.assertNotEqual(p.returncode, 0, "an order was created for %r: %s" % (pid, p.stdout))
        self.assertEqual(http_status(self.stack.vars["RXD_ADMIN_RX_ROUTER"] + "/readyz"), 200)
        return dl

    # ---- undecodable ----

    def test_undecodable_protobuf(self):
        self.dead_lettered(b"\xff\xfe\x00garbage\x13\x37", "not a decodable")

    def test_truncated_protobuf(self):
        pid = uid("bad")
        data = approved(pid, self.point)
        self.dead_lettered(data[:-3] + f_bytes(4, b"x" * 50)[:5], "not a decodable", [pid])

    def test_wrong_wire_type_for_delivery(self):
        pid = uid("bad")
        data = approved(pid, None) + f_varint(3, 7)  # GeoPoint sent as a varint
        self.dead_lettered(data, "not a decodable", [pid])

    # ---- missing required fields ----

    def test_missing_prescription_id(self):
        self.dead_lettered(approved(None, self.point), "prescription_id")

    def test_missing_items(self):
        pid = uid("bad")
        self.dead_lettered(approved(pid, self.point, items=[]), "items", [pid])

    def test_missing_delivery_point(self):
        pid = uid("bad")
        self.dead_lettered(approved(pid, None), "delivery point is required", [pid])

    def test_missing_drug_code(self):
        pid = uid("bad")
        self.dead_lettered(approved(pid, self.point, items=[f_bytes(2, b"x") + f_varint(3, 1)]),
                           "drug_code", [pid])

    def test_empty_message(self):
        self.dead_lettered(b"", "prescription_id")

    # ---- oversized fields ----

    def test_prescription_id_of_65_chars(self):
        pid = "rx-" + "a" * 62
        self.assertEqual(len(pid), 65)
        self.dead_lettered(approved(pid, self.point), "prescription_id", [pid, pid[:64]])

    def test_address_of_10kb(self):
        pid = uid("bad")
        self.dead_lettered(approved(pid, self.point, address=b"Long street " * 900),
                           "delivery_address is longer", [pid])

    def test_huge_patient_ref(self):
        pid = uid("bad")
        self.dead_lettered(approved(pid, self.point, patient=b"p" * 100000), "patient_ref",
                           [pid])

    # ---- coordinates ----

    def test_nan_latitude(self):
        pid = uid("bad")
        self.dead_lettered(approved(pid, (math.nan, 10.0)), "delivery point is out of range",
                           [pid])

    def test_nan_longitude_with_payload_bits(self):
        pid = uid("bad")
        nan = struct.unpack("<d", b"\x01\x00\x00\x00\x00\x00\xf8\xff")[0]
        self.dead_lettered(approved(pid, (10.0, nan)), "delivery point is out of range", [pid])

    def test_infinite_coordinates(self):
        for lat, lon in ((math.inf, 0.0), (0.0, -math.inf)):
            pid = uid("bad")
            self.dead_lettered(approved(pid, (lat, lon)), "delivery point is out of range", [pid])

    def test_out_of_range_coordinates(self):
        for lat, lon in ((91.0, 0.0), (0.0, 181.0), (-90.0, 0.0), (1e308, -1e308)):
            pid = uid("bad")
            self.dead_lettered(approved(pid, (lat, lon)), "delivery point is out of range", [pid])

    # ---- items ----

    def test_quantity_zero(self):
        pid = uid("bad")
        self.dead_lettered(approved(pid, self.point, items=[item(qty=0)]),
                           "items[0].quantity", [pid])

    def test_huge_quantity(self):
        for qty in (1000001, 2 ** 32 - 1, 2 ** 64 - 1):
            pid = uid("bad")
            self.dead_lettered(approved(pid, self.point, items=[item(), item(qty=qty)]),
                               "items[1].quantity", [pid])

    def test_ten_thousand_items(self):
        pid = uid("bad")
        data = approved(pid, self.point, items=[item(code=b"PZN-%d" % i, name=b"n")
                                                for i in range(10000)])
        self.dead_lettered(data, "items must hold 1-100 entries, got 10000", [pid])

    # ---- ids and text ----

    def test_id_with_control_characters(self):
        for pid in ("rx-\x01abc", "rx-line\nbreak", "rx-\x1b[31m", "rx-tab\t", "rx-\x7f"):
            self.dead_lettered(approved(pid, self.point), "prescription_id", [pid])

    def test_id_with_nul_byte(self):
        # the part before the NUL is a valid id: it must not become an order
        prefix = uid("rx-nul")
        self.dead_lettered(approved(prefix + "\x00evil", self.point), "prescription_id",
                           [prefix])

    def test_id_with_non_ascii(self):
        pid = "rx-\u00e9t\u00e9"
        self.dead_lettered(approved(pid, self.point), "prescription_id", [pid])

    def test_drug_code_with_control_characters(self):
        for code in (b"PZN\x00100", b"PZN\x01", b"PZN 100", b"PZN/../1"):
            pid = uid("bad")
            self.dead_lettered(approved(pid, self.point, items=[item(), item(code=code)]),
                               "items[1].drug_code", [pid])

    def test_invalid_utf8_in_address(self):
        pid = uid("bad")
        self.dead_lettered(approved(pid, self.point, address=b"Street \xff\xfe 1"),
                           "delivery_address is not valid UTF-8", [pid])

    def test_invalid_utf8_in_item_name(self):
        for name in (b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80"):
            pid = uid("bad")
            self.dead_lettered(approved(pid, self.point, items=[item(name=name)]),
                               "items[0].name is not valid UTF-8", [pid])

    def test_nul_in_address(self):
        pid = uid("bad")
        self.dead_lettered(approved(pid, self.point, address=b"Street 1\x00<script>"),
                           "delivery_address", [pid])

    def test_unknown_enum_values(self):
        pid = uid("bad")
        self.dead_lettered(approved(pid, self.point, extra=f_varint(7, 9)), "fulfilment", [pid])

    def test_negative_times(self):
        pid = uid("bad")
        self.dead_lettered(approved(pid, self.point, extra=f_varint(12, -5)), "expires_at_ms",
                           [pid])

    def test_group_wire_type(self):
        pid = uid("bad")
        self.dead_lettered(approved(pid, self.point, extra=varint(99 << 3 | 3) + varint(99 << 3 | 4)),
                           "not a decodable", [pid])

    def test_unknown_fields_are_ignored(self):
        # forward compatibility: a field this version does not know is no error
        pid = uid("rx")
        data = approved(pid, self.point, extra=f_varint(99, 5) + f_bytes(100, b"\x00\xff" * 100))
        self.stack.produce_raw("rx.approved", pid, data)
        order = self.stack.wait_state(self.stack.order_id(pid), "OFFERED")
        self.assertEqual(order["pharmacy_id"], self.ph)

    def test_no_validate_submit_goes_to_dead_letter(self):
        # rxctl submit --no-validate 1: what an upstream without checks sends
        rx = prescription(uid("bad"), self.point, items=[{"drug_code": "PZN-1", "quantity": 0}])
        key = rx["prescription_id"]
        self.stack.rxctl("submit", "-", "--no-validate", "1", input=json.dumps(rx))
        good = prescription(uid("rx"), self.point)
        self.stack.submit(good)
        self.stack.wait_state(self.stack.order_id(good["prescription_id"]), "OFFERED")
        wait_until(lambda: any(d.get("key") == key and "quantity" in d.get("error", "")
                               for d in self.stack.events("rx.deadletter", idle_ms=800)),
                   30, "the dead letter of " + key)
        self.assertNotEqual(self.stack.rxctl("lookup", key, check=False).returncode, 0)


class HttpHostileBase(StackTest):
    """Helpers for both gateways."""

    def setUp(self):
        self.op = self.stack.token("operator", "op-hostile")
        self.home = area()
        self.ph = uid("ph")
        self.ph_tok = self.stack.register_pharmacy(self.ph, *offset(self.home, east_m=200),
                                                   capacity=20)
        self.co = uid("co")
        self.co_tok = self.stack.token("courier", self.co)
        self.alive()

    def ph_api(self, *a, **kw):
        return self.stack.pharmacy_api(*a, **kw)

    def co_api(self, *a, **kw):
        return self.stack.courier_api(*a, **kw)

    def alive(self):
        """A normal request to each gateway is answered."""
        code, body = self.ph_api("PUT", "/v1/pharmacies/%s/status" % self.ph, self.ph_tok,
                                 {"open": True}, timeout=10)
        self.assertEqual(code, 200, body)
        code, body = self.co_api("PUT", "/v1/couriers/%s/availability" % self.co, self.co_tok,
                                 {"available": False}, timeout=10)
        self.assertEqual(code, 200, body)

    def gateways(self):
        """(name, base URL, a body endpoint, its token, a valid body) of each gateway."""
        return [("pharmacy", self.stack.vars["RXD_PHARMACY_API"],
                 "/v1/pharmacies/%s/status" % self.ph, self.ph_tok, {"open": True}),
                ("courier", self.stack.vars["RXD_COURIER_API"],
                 "/v1/couriers/%s/location" % self.co, self.co_tok,
                 {"lat": self.home[0], "lon": self.home[1], "ts_ms": now_ms()})]

    def send(self, base, method, path, token, **kw):
        return http(method, base + path, token, timeout=15, **kw)


class HttpHostileTest(HttpHostileBase):
    """Bad bodies, paths, methods, tokens and sizes on both gateways."""

    def test_invalid_utf8_in_json_body(self):
        for name, base, path, tok, _ in self.gateways():
            for raw in (b'{"open":true,"x":"\xff\xfe"}', b'{"lat":1,"lon":2,"ts_ms":1,"\xc3\x28":1}',
                        b'{"open":"\xed\xa0\x80"}', b'\xef\xbb\xbf{"open":true}'):
                with self.subTest(gateway=name, body=raw):
                    code, body = self.send(base, "PUT", path, tok, raw=raw)
                    error_of(self, code, body, 400)
                    self.alive()

    def test_invalid_utf8_in_string_values(self):
        # decoded JSON escapes that are not text: lone surrogates, NUL, controls
        code, body = self.ph_api("POST", "/v1/orders/ord-x/reject", self.ph_tok,
                                 raw=b'{"reason":"\\ud800"}')
        error_of(self, code, body, 400)
        code, body = self.ph_api("PUT", "/v1/pharmacies/" + self.ph, self.op,
                                 raw=json.dumps({"name": "A\u0000B", "lat": 1, "lon": 1,
                                                 "capacity": 1}).encode())
        error_of(self, code, body, 400)
        code, body = self.ph_api("PUT", "/v1/pharmacies/" + self.ph, self.op,
                                 {"name": "bell\u0007", "lat": 1, "lon": 1, "capacity": 1})
        error_of(self, code, body, 400, "bad_request", "name")
        self.alive()

    def test_deeply_nested_json(self):
        for name, base, path, tok, _ in self.gateways():
            for raw in (b"[" * 10000, b'{"a":' * 10000, b"[" * 10000 + b"]" * 10000,
                        b'{"open":true,"x":' + b"[" * 5000 + b"]" * 5000 + b"}"):
                with self.subTest(gateway=name, n=len(raw)):
                    code, body = self.send(base, "PUT", path, tok, raw=raw)
                    error_of(self, code, body, 400)
                    self.alive()

    def test_nan_infinity_and_out_of_range_numbers(self):
        loc = "/v1/couriers/%s/location" % self.co
        for raw in (b'{"lat":NaN,"lon":0,"ts_ms":1}', b'{"lat":0,"lon":Infinity,"ts_ms":1}',
                    b'{"lat":-Infinity,"lon":0,"ts_ms":1}', b'{"lat":1e999,"lon":0,"ts_ms":1}',
                    b'{"lat":0,"lon":0,"ts_ms":1e999}'):
            with self.subTest(body=raw):
                code, body = self.co_api("PUT", loc, self.co_tok, raw=raw)
                error_of(self, code, body, 400)
        t = now_ms()
        for lat, lon in ((91, 0), (-91, 0), (0, 181), (0, -181), (85.1, 0), (1e308, 0)):
            with self.subTest(lat=lat, lon=lon):
                code, body = self.co_api("PUT", loc, self.co_tok, {"lat": lat, "lon": lon,
                                                                   "ts_ms": t})
                error_of(self, code, body, 400, "bad_request", "lat")
                code, body = self.co_api("POST", "/v1/couriers/%s/locations" % self.co,
                                         self.co_tok, {"points": [{"lat": lat, "lon": lon,
                                                                   "ts_ms": t}]})
                error_of(self, code, body, 400, "bad_request", "points[0]")
                code, body = self.ph_api("PUT", "/v1/pharmacies/" + uid("ph"), self.op,
                                         {"name": "x", "lat": lat, "lon": lon, "capacity": 1})
                error_of(self, code, body, 400, "bad_request", "lat")
        code, body = self.ph_api("PUT", "/v1/pharmacies/" + uid("ph"), self.op,
                                 raw=b'{"name":"x","lat":NaN,"lon":0,"capacity":1}')
        error_of(self, code, body, 400)
        for bad in ({"ts_ms": -1}, {"ts_ms": 2 ** 63}, {"ts_ms": 1.5}):
            code, body = self.co_api("PUT", loc, self.co_tok,
                                     dict({"lat": 0, "lon": 0}, **bad))
            error_of(self, code, body, 400)
        code, body = self.co_api("PUT", "/v1/couriers/%s/availability" % self.co, self.co_tok,
                                 {"available": True, "capacity": 2 ** 70})
        error_of(self, code, body, 400)
        code, body = self.ph_api("PUT", "/v1/pharmacies/%s/stock" % self.ph, self.ph_tok,
                                 {"items": {"PZN-1": 10 ** 30}})
        error_of(self, code, body, 400)
        self.alive()

    def test_bad_ids_in_the_path(self):
        long_id = "p" * 65
        bad = ["ph%01x", "ph%00x", "ph%0Ax", "ph%1B%5B31m", "ph%7F", "%C3%A9t%C3%A9",
               "..%2F..%2Fx", "a%20b", long_id, "q" * 300, "r" * 2000, "%FF%FE"]
        for seg in bad:
            with self.subTest(seg=seg[:20]):
                code, body = self.ph_api("PUT", "/v1/pharmacies/%s/status" % seg, self.ph_tok,
                                         {"open": True})
                error_of(self, code, body, 400, "bad_id")
                code, body = self.ph_api("POST", "/v1/orders/%s/accept" % seg, self.ph_tok)
                error_of(self, code, body, 400, "bad_id")
                code, body = self.ph_api("GET", "/v1/orders/%s" % seg, self.op)
                error_of(self, code, body, 400, "bad_id")
                code, body = self.co_api("PUT", "/v1/couriers/%s/location" % seg, self.co_tok,
                                         {"lat": 0, "lon": 0, "ts_ms": now_ms()})
                error_of(self, code, body, 400, "bad_id")
                code, body = self.co_api("POST", "/v1/orders/%s/courier/accept" % seg,
                                         self.co_tok)
                error_of(self, code, body, 400, "bad_id")
        # a 64-char id is fine (not found is a 404, not a 400)
        code, body = self.ph_api("GET", "/v1/orders/%s" % ("o" * 64), self.op)
        error_of(self, code, body, 404, "not_found")
        # raw control characters in the request line: evhttp refuses it
        for _, base, path, tok, _ in self.gateways():
            status, _, _ = raw_request(base, b"GET /v1/orders/a\x01b HTTP/1.1\r\nHost: x\r\n"
                                       b"Authorization: Bearer " + tok.encode() +
                                       b"\r\nConnection: close\r\n\r\n")
            self.assertIn(status, (400, None))
        self.alive()

    def test_wrong_content_type(self):
        for name, base, path, tok, good in self.gateways():
            for ct in ("text/plain", "application/x-www-form-urlencoded", "application/jsonp",
                       "application/json-seq", "multipart/form-data; boundary=x", "\x01"):
                with self.subTest(gateway=name, ct=ct):
                    code, body = self.send(base, "PUT", path, tok, raw=json.dumps(good).encode(),
                                           headers={"Content-Type": ct})
                    error_of(self, code, body, 415, "unsupported_media_type")
            for ct in ("application/json", "application/json; charset=utf-8",
                       "Application/JSON"):
                with self.subTest(gateway=name, ok_ct=ct):
                    code, body = self.send(base, "PUT", path, tok, raw=json.dumps(good).encode(),
                                           headers={"Content-Type": ct})
                    self.assertEqual(code, 200, body)
        self.alive()

    def test_body_over_the_limit(self):
        for name, base, path, tok, good in self.gateways():
            with self.subTest(gateway=name):
                big = dict(good, pad="x" * (100 * 1024))
                code, body = self.send(base, "PUT", path, tok, body=big)
                error_of(self, code, body, 413, "body_too_large")
                self.alive()

    def test_body_far_over_the_limit(self):
        for name, base, path, tok, _ in self.gateways():
            with self.subTest(gateway=name):
                size = 20 * 1024 * 1024
                head = ("PUT %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                        "Content-Type: application/json\r\nContent-Length: %d\r\n"
                        "Connection: close\r\n\r\n" % (path, host_of(base), tok, size)).encode()
                t0 = time.time()
                status, _, _ = raw_request(base, head + b"x" * size, timeout=15)
                self.assertIn(status, (413, None))
                self.assertLess(time.time() - t0, 15)
                # chunked, no length announced
                head = ("PUT %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                        "Connection: close\r\n\r\n" % (path, host_of(base), tok)).encode()
                chunk = b"100000\r\n" + b"y" * 0x100000 + b"\r\n"
                status, _, _ = raw_request(base, head + chunk * 8 + b"0\r\n\r\n", timeout=15)
                self.assertIn(status, (413, None))
                self.alive()

    def test_headers_over_the_limit(self):
        for name, base, path, tok, _ in self.gateways():
            with self.subTest(gateway=name):
                for extra in (b"X-Pad: " + b"a" * 20000 + b"\r\n",
                              b"".join(b"X-H%d: v\r\n" % i for i in range(3000)),
                              b"Authorization: Bearer " + b"A" * 20000 + b"\r\n"):
                    req = (b"GET /v1/orders/x HTTP/1.1\r\nHost: " + host_of(base).encode() +
                           b"\r\n" + extra + b"Connection: close\r\n\r\n")
                    status, _, _ = raw_request(base, req)
                    self.assertIn(status, (400, 413, 431, None))
                    self.alive()
                # a long token under the header limit is refused as malformed
                code, body = self.send(base, "POST", "/v1/orders/x/courier/accept"
                                       if name == "courier" else "/v1/orders/x/accept",
                                       "rxd1." + "A" * 4000)
                error_of(self, code, body, 401, "unauthenticated", "malformed token")

    def tamper(self, tok, new_payload=None):
        prefix, payload, mac = tok.split(".")
        if new_payload is not None:
            payload = base64.urlsafe_b64encode(new_payload.encode()).decode().rstrip("=")
        else:
            i = 10
            mac = mac[:i] + ("B" if mac[i] != "B" else "C") + mac[i + 1:]
        return ".".join((prefix, payload, mac))

    def payload(self, tok):
        p = tok.split(".")[1]
        return base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode()

    def test_expired_and_tampered_tokens(self):
        expired_ph = self.stack.token("pharmacy", self.ph, ttl=1)
        expired_co = self.stack.token("courier", self.co, ttl=1)
        time.sleep(2.1)
        ph_path = "/v1/pharmacies/%s/orders" % self.ph
        co_path = "/v1/couriers/%s/assignments" % self.co
        for api, path, tok in ((self.ph_api, ph_path, self.ph_tok),
                               (self.co_api, co_path, self.co_tok)):
            exp = expired_ph if api == self.ph_api else expired_co
            code, body = api("GET", path, exp)
            error_of(self, code, body, 401, "unauthenticated", "token expired")
            code, body = api("GET", path, self.tamper(tok))
            error_of(self, code, body, 401, "unauthenticated", "bad signature")
            role, who, exp_s = self.payload(tok).split(":")
            # a longer life, another holder, another role: the MAC no longer fits
            for p in ("%s:%s:%d" % (role, who, int(exp_s) + 10 ** 6),
                      "%s:%s:%s" % (role, who + "x", exp_s),
                      "operator:%s:%s" % (who, exp_s)):
                code, body = api("GET", path, self.tamper(tok, p))
                error_of(self, code, body, 401, "unauthenticated", "bad signature")
            # an expired token re-dated keeps its old MAC: bad signature too
            role, who, exp_s = self.payload(exp).split(":")
            code, body = api("GET", path, self.tamper(exp, "%s:%s:%d" % (role, who,
                                                                         int(exp_s) + 3600)))
            error_of(self, code, body, 401, "unauthenticated", "bad signature")
            for junk in ("", "rxd1.", "rxd1..", "rxd1.%%%.%%%", "x" * 600, "rxd2." + tok[5:],
                         tok + "A", tok.split(".")[0] + "." + tok.split(".")[1]):
                code, body = api("GET", path, junk)
                error_of(self, code, body, 401, "unauthenticated")
            for header in ("Basic dXNlcjpwYXNz", "Bearer", "bearer  " + tok + " x"):
                code, body = http("GET", (self.stack.vars["RXD_PHARMACY_API"]
                                          if api == self.ph_api else
                                          self.stack.vars["RXD_COURIER_API"]) + path,
                                  headers={"Authorization": header})
                error_of(self, code, body, 401, "unauthenticated")
        # a token signed with another secret
        other = self.stack.rxctl("token", "--role", "pharmacy", "--id", self.ph,
                                 "--token-secret", "another-secret-of-enough-length").stdout.strip()
        code, body = self.ph_api("GET", ph_path, other)
        error_of(self, code, body, 401, "unauthenticated", "bad signature")
        self.alive()

    def test_token_of_another_role(self):
        ph_path = "/v1/pharmacies/%s" % self.ph
        pharmacy_endpoints = [("PUT", ph_path + "/stock", {"items": {"PZN-1": 1}}),
                              ("PUT", ph_path + "/status", {"open": True}),
                              ("GET", ph_path + "/orders", None),
                              ("POST", "/v1/orders/ord-x/accept", None),
                              ("POST", "/v1/orders/ord-x/reject", {"reason": "no"})]
        operator_endpoints = [("PUT", ph_path, {"name": "n", "lat": 1, "lon": 1, "capacity": 1}),
                              ("GET", "/v1/orders/ord-x", None),
                              ("POST", "/v1/orders/ord-x/cancel", None)]
        co_path = "/v1/couriers/%s" % self.co
        courier_endpoints = [("PUT", co_path + "/location",
                              {"lat": 0, "lon": 0, "ts_ms": now_ms()}),
                             ("POST", co_path + "/locations",
                              {"points": [{"lat": 0, "lon": 0, "ts_ms": now_ms()}]}),
                             ("PUT", co_path + "/availability", {"available": True}),
                             ("GET", co_path + "/assignments", None),
                             ("POST", "/v1/orders/ord-x/courier/accept", None)]
        # a courier named like the pharmacy, a pharmacy named like the courier
        co_as_ph = self.stack.token("courier", self.ph)
        ph_as_co = self.stack.token("pharmacy", self.co)
        op_as_co = self.stack.token("operator", self.co)
        for method, path, body in pharmacy_endpoints + operator_endpoints:
            for tok in (co_as_ph, self.co_tok):
                with self.subTest(path=path, tok=tok[:12]):
                    code, out = self.ph_api(method, path, tok, body)
                    error_of(self, code, out, 403, "forbidden")
        for method, path, body in operator_endpoints:
            with self.subTest(path=path, role="pharmacy"):
                code, out = self.ph_api(method, path, self.ph_tok, body)
                error_of(self, code, out, 403, "forbidden", "operator")
        for method, path, body in courier_endpoints:
            for tok in (ph_as_co, self.ph_tok, op_as_co):
                with self.subTest(path=path, tok=tok[:12]):
                    code, out = self.co_api(method, path, tok, body)
                    error_of(self, code, out, 403, "forbidden")
        self.alive()

    def test_unknown_methods_and_paths(self):
        for name, base, path, tok, _ in self.gateways():
            for method in ("DELETE", "PATCH", "OPTIONS"):
                with self.subTest(gateway=name, method=method):
                    code, body = self.send(base, method, path, tok)
                    error_of(self, code, body, 405, "method_not_allowed")
            code, body = self.send(base, "POST", path, tok, body={})
            error_of(self, code, body, 405, "method_not_allowed")
            # HEAD: the status only
            status, _, _ = raw_request(base, ("HEAD %s HTTP/1.1\r\nHost: x\r\nAuthorization: "
                                              "Bearer %s\r\nConnection: close\r\n\r\n"
                                              % (path, tok)).encode())
            self.assertEqual(status, 405)
            # methods evhttp does not know, and garbage request lines
            for line in (b"FOO / HTTP/1.1", b"GET", b"\x00\x01\x02 / HTTP/1.1",
                         b"GET /v1/x HTTP/9.9", b"GET /v1/x HTTP/1.1 extra"):
                status, _, _ = raw_request(base, line + b"\r\nHost: x\r\nConnection: close"
                                           b"\r\n\r\n")
                self.assertIn(status, (400, 405, 501, 505, None), line)
                self.alive()
            for p in ("/", "/v1", "/v1/nowhere", "/v2/orders/x", "/v1/orders/x/y/z/w/v",
                      "/v1/orders/x/teleport", "/" + "/".join(["a"] * 50), "/healthz",
                      "/v1/nowhere?%%%", "//v1//orders"):
                with self.subTest(gateway=name, path=p[:30]):
                    code, body = self.send(base, "GET", p, tok)
                    error_of(self, code, body, 404, "not_found")
        self.alive()

    def test_huge_wait(self):
        for api, path, tok in ((self.ph_api, "/v1/pharmacies/%s/orders" % self.ph, self.ph_tok),
                               (self.co_api, "/v1/couriers/%s/assignments" % self.co,
                                self.co_tok)):
            for wait in ("31", "99999", "99999999999999999999999999", "-1", "1e3", "abc", "",
                         "0x10", "5x", "5.0", "2147483648", "99%00"):
                with self.subTest(path=path, wait=wait):
                    t0 = time.time()
                    code, body = api("GET", path + "?wait=" + wait, tok)
                    error_of(self, code, body, 400, "bad_request", "wait")
                    self.assertLess(time.time() - t0, 5)
        self.alive()

    def test_other_pharmacys_order(self):
        other = uid("ph-other")
        other_tok = self.stack.register_pharmacy(other, *offset(self.home, east_m=6000))
        rx = prescription(uid("rx"), offset(self.home, north_m=100))
        self.stack.submit(rx)
        oid = self.stack.order_id(rx["prescription_id"])
        order = self.stack.wait_state(oid, "OFFERED")
        self.assertEqual(order["pharmacy_id"], self.ph)
        for action in ("accept", "reject", "ready", "collected", "returned"):
            with self.subTest(action=action):
                code, body = self.ph_api("POST", "/v1/orders/%s/%s" % (oid, action), other_tok,
                                         {"reason": "mine now"} if action == "reject" else None)
                error_of(self, code, body, 403, "forbidden")
        for method, path, body in (("PUT", "/v1/pharmacies/%s/status" % self.ph, {"open": False}),
                                   ("PUT", "/v1/pharmacies/%s/stock" % self.ph,
                                    {"items": {"PZN-100": 0}}),
                                   ("GET", "/v1/pharmacies/%s/orders" % self.ph, None)):
            code, out = self.ph_api(method, path, other_tok, body)
            error_of(self, code, out, 403, "forbidden")
        self.assertEqual(self.stack.order(oid)["state"], "OFFERED")
        code, body = self.ph_api("POST", "/v1/orders/%s/accept" % oid, self.ph_tok)
        self.assertEqual((code, body["state"]), (200, "ACCEPTED"), body)

    def test_other_couriers_order(self):
        mine, mine_tok = uid("co"), None
        mine_tok = self.stack.token("courier", mine)
        lat, lon = offset(self.home, north_m=300)
        for cid, tok in ((mine, mine_tok),):
            self.assertEqual(self.co_api("PUT", "/v1/couriers/%s/availability" % cid, tok,
                                         {"available": True, "capacity": 1})[0], 200)
            self.assertEqual(self.co_api("PUT", "/v1/couriers/%s/location" % cid, tok,
                                         {"lat": lat, "lon": lon, "ts_ms": now_ms()})[0], 200)
        rx = prescription(uid("rx"), offset(self.home, north_m=100))
        self.stack.submit(rx)
        oid = self.stack.order_id(rx["prescription_id"])
        self.stack.wait_state(oid, "OFFERED")
        self.assertEqual(self.ph_api("POST", "/v1/orders/%s/accept" % oid, self.ph_tok)[0], 200)
        self.assertEqual(self.ph_api("POST", "/v1/orders/%s/ready" % oid, self.ph_tok)[0], 200)
        order = self.stack.wait_state(oid, "COURIER_ASSIGNED", 20)
        self.assertEqual(order["courier_id"], mine)
        # self.co is another courier (not available, never assigned)
        for action, body in (("accept", None), ("decline", {"reason": "x"}), ("pickup", None),
                             ("deliver", {"handover_code": "123456"}),
                             ("fail", {"reason": "x"})):
            with self.subTest(action=action):
                code, out = self.co_api("POST", "/v1/orders/%s/courier/%s" % (oid, action),
                                        self.co_tok, body)
                error_of(self, code, out, 403, "forbidden")
        for method, path, body in (("PUT", "/v1/couriers/%s/location" % mine,
                                    {"lat": 0, "lon": 0, "ts_ms": now_ms()}),
                                   ("PUT", "/v1/couriers/%s/availability" % mine,
                                    {"available": False}),
                                   ("GET", "/v1/couriers/%s/assignments" % mine, None)):
            code, out = self.co_api(method, path, self.co_tok, body)
            error_of(self, code, out, 403, "forbidden")
        # the pharmacy cannot act as the courier either
        code, out = self.co_api("POST", "/v1/orders/%s/courier/pickup" % oid, self.ph_tok)
        error_of(self, code, out, 403, "forbidden")
        self.assertEqual(self.stack.order(oid)["courier_id"], mine)
        code, out = self.co_api("POST", "/v1/orders/%s/courier/accept" % oid, mine_tok)
        self.assertEqual(code, 200, out)

    def test_clients_that_leave_during_a_long_poll(self):
        for name, base, path, tok in (
                ("pharmacy", self.stack.vars["RXD_PHARMACY_API"],
                 "/v1/pharmacies/%s/orders" % self.ph, self.ph_tok),
                ("courier", self.stack.vars["RXD_COURIER_API"],
                 "/v1/couriers/%s/assignments" % self.co, self.co_tok)):
            u = urllib.parse.urlparse(base)
            for i in range(20):
                s = socket.create_connection((u.hostname, u.port), timeout=10)
                s.sendall(("GET %s?wait=%d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s"
                           "\r\n\r\n" % (path, 1 + i % 3, tok)).encode())
                if i % 2:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()  # gone before the answer (half of them with a reset)
            self.alive()
            time.sleep(3.5)  # every abandoned long-poll has expired and answered into nothing
            self.alive()
            code, body = self.send(base, "GET", path + "?wait=1", tok)
            self.assertEqual(code, 200, body)

    def test_services_survived(self):
        """Runs last (alphabetically late names run later; checked in tearDownClass too)."""
        self.alive()

    @classmethod
    def tearDownClass(cls):
        try:
            for name, pid in cls.stack.pids().items():
                os.kill(pid, 0)  # every process of the stack is still there
        finally:
            super().tearDownClass()


class SlowClientTest(HttpHostileBase):
    """Slow clients holding connections are cut off after the HTTP timeout,
    and normal requests are answered meanwhile and afterwards."""
    SERVICES = ["pharmacy-gw", "courier-gw"]
    STACK_ENV = {"RXD_HTTP_TIMEOUT_S": 2}

    def setUp(self):
        self.op = self.stack.token("operator", "op-hostile")
        self.home = area()
        self.ph = uid("ph")
        self.ph_tok = self.stack.register_pharmacy(self.ph, *offset(self.home, east_m=200))
        self.co = uid("co")
        self.co_tok = self.stack.token("courier", self.co)

    def test_slow_clients_are_cut_off(self):
        for name, base, path, tok, _ in self.gateways():
            with self.subTest(gateway=name):
                u = urllib.parse.urlparse(base)
                stalled = []
                for i in range(6):
                    s = socket.create_connection((u.hostname, u.port), timeout=10)
                    if i % 3 == 0:
                        s.sendall(b"GET /v1/pharm")  # half a request line
                    elif i % 3 == 1:  # the headers, never finished
                        s.sendall(b"PUT " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                                  b"Authorization: Bearer " + tok.encode() + b"\r\n")
                    else:  # the headers, and a body that stops short
                        s.sendall(b"PUT " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                                  b"Authorization: Bearer " + tok.encode() + b"\r\n"
                                  b"Content-Type: application/json\r\n"
                                  b"Content-Length: 100\r\n\r\n{\"open\":")
                    stalled.append(s)
                t0 = time.time()
                self.alive()  # answered while they hold their connections
                time.sleep(max(0, 3.5 - (time.time() - t0)))
                for s in stalled:
                    s.settimeout(3)
                    try:
                        rest = s.recv(65536)
                        while rest and not rest.endswith(b"\r\n\r\n") and b"\r\n\r\n" not in rest:
                            more = s.recv(65536)
                            if not more:
                                break
                            rest += more
                        # closed (b"") or a 408/400 then closed
                        if rest:
                            self.assertIn(int(rest.split()[1]), (400, 408), rest[:80])
                            self.assertEqual(s.recv(65536), b"")
                    except ConnectionResetError:
                        pass
                    except socket.timeout:
                        self.fail("the server still holds a stalled connection after 3.5 s")
                    finally:
                        s.close()
                self.alive()

    def test_idle_keepalive_is_closed(self):
        for name, base, path, tok, good in self.gateways():
            u = urllib.parse.urlparse(base)
            s = socket.create_connection((u.hostname, u.port), timeout=10)
            body = json.dumps(good).encode()
            s.sendall(("PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                       "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                       % (path, tok, len(body))).encode() + body)
            got = s.recv(65536)
            self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:80])
            time.sleep(3.5)
            s.settimeout(3)
            try:
                self.assertEqual(s.recv(65536), b"")
            except ConnectionResetError:
                pass
            except socket.timeout:
                self.fail("an idle keep-alive connection is held past the timeout")
            finally:
                s.close()
            self.alive()

    def test_long_poll_longer_than_the_timeout(self):
        # a long-poll is not a slow client: it is answered after its wait
        t0 = time.time()
        code, body = self.ph_api("GET", "/v1/pharmacies/%s/orders?wait=4" % self.ph, self.ph_tok)
        self.assertEqual((code, body), (200, {"orders": []}))
        self.assertGreater(time.time() - t0, 3.5)

    def test_many_stalled_connections(self):
        base = self.stack.vars["RXD_PHARMACY_API"]
        u = urllib.parse.urlparse(base)
        socks = []
        try:
            for _ in range(200):
                s = socket.create_connection((u.hostname, u.port), timeout=10)
                s.sendall(b"G")
                socks.append(s)
            self.alive()
            time.sleep(3.5)
            self.alive()
        finally:
            for s in socks:
                s.close()
        self.alive()


if __name__ == "__main__":
    unittest.main()
