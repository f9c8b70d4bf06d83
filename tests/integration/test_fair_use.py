"""Fair use and answered refusals at the gateways (issue 12 items 1 and 6):
every refusal between a gateway and the state machine is a JSON error, a
stock list of the API's 2,000 items is stored, accept() backs off at the
descriptor limit instead of spinning, long-polls are capped per token
holder and in total (429 with Retry-After) and released when their client
hangs up, request and position rates are limited per token holder,
positions dated more than a minute ahead are refused, HEAD replies are
framed, and one abusive token does not slow another holder's requests
beyond a stated bound (the figures are printed)."""
import http.client
import json
import multiprocessing
import os
import socket
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import StackTest, area, offset, uid, wait_until  # noqa: E402
from test_hostile import error_of, host_of, raw_request  # noqa: E402

PER_HOLDER = 2
TOTAL = 5
REQ_RATE, REQ_BURST = 20, 40
POS_RATE, POS_BURST = 2, 500


def now_ms():
    return int(time.time() * 1000)


def addr(base):
    u = urllib.parse.urlparse(base)
    return u.hostname, u.port


def park(base, path, tok, wait=30):
    """Opens a connection and sends a long-poll on it; returns the socket."""
    s = socket.create_connection(addr(base), timeout=10)
    s.sendall(("GET %s?wait=%d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
               % (path, wait, tok)).encode())
    return s


def read_reply(s, timeout=5):
    """(status, headers, body bytes) of one reply on s."""
    s.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        b = s.recv(65536)
        if not b:
            break
        data += b
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        headers[k.decode().strip().lower()] = v.decode().strip()
    n = int(headers.get("content-length", "0"))
    while len(body) < n:
        b = s.recv(65536)
        if not b:
            break
        body += b
    return int(lines[0].split()[1]), headers, body


def abuse(base, path, tok, body, until):
    """Sends requests as fast as one keep-alive connection allows until
    `until`; returns {status: count}."""
    seen = {}
    conn = http.client.HTTPConnection(*addr(base), timeout=10)
    data = json.dumps(body).encode()
    hdrs = {"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
    while time.time() < until:
        try:
            conn.request("PUT" if path.endswith("location") else "POST", path, data, hdrs)
            r = conn.getresponse()
            r.read()
            seen[r.status] = seen.get(r.status, 0) + 1
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(*addr(base), timeout=10)
    conn.close()
    return seen


def gateway_pid(stack, service):
    """The pid of the service's process (scripts/stack may start it
    through a shell)."""
    pid = stack.pids()[service]
    with open("/proc/%d/comm" % pid) as f:
        if f.read().strip().startswith(service.split("-")[0]):
            return pid
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return int(f.read().split()[0])


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))]


class FairUseTest(StackTest):
    SERVICES = ["pharmacy-gw", "courier-gw"]
    STACK_ENV = {"RXD_LONGPOLL_PER_HOLDER": PER_HOLDER, "RXD_LONGPOLL_MAX": TOTAL,
                 "RXD_RATE_REQUESTS_PER_S": REQ_RATE, "RXD_RATE_REQUESTS_BURST": REQ_BURST,
                 "RXD_RATE_POSITIONS_PER_S": POS_RATE, "RXD_RATE_POSITIONS_BURST": POS_BURST}

    def setUp(self):
        self.home = area()
        self.ph = uid("ph")
        self.ph_tok = self.stack.register_pharmacy(self.ph, *offset(self.home, east_m=200))
        self.ph_base = self.stack.vars["RXD_PHARMACY_API"]
        self.co_base = self.stack.vars["RXD_COURIER_API"]

    def courier(self):
        co = uid("co")
        return co, self.stack.token("courier", co)

    def point(self, ts=None):
        return {"lat": self.home[0], "lon": self.home[1], "ts_ms": now_ms() if ts is None else ts}

    def settle(self):
        """Lets the request buckets of this test's holders refill."""
        time.sleep(REQ_BURST / REQ_RATE)

    # ---- item 1: every refusal answered ----

    def test_stock_of_2000_items_is_stored(self):
        path = "/v1/pharmacies/%s/stock" % self.ph
        items = {"PZN-%05d" % i: i % 50 for i in range(2000)}
        code, body = self.stack.pharmacy_api("PUT", path, self.ph_tok, {"items": items},
                                             timeout=10)
        self.assertEqual(code, 200, body)
        # replaced, not merged: a short list afterwards is the whole stock
        code, body = self.stack.pharmacy_api("PUT", path, self.ph_tok,
                                             {"items": {"PZN-100": 3}}, timeout=10)
        self.assertEqual(code, 200, body)
        code, body = self.stack.pharmacy_api("PUT", path, self.ph_tok,
                                             {"items": {"PZN-%d" % i: 1 for i in range(2001)}},
                                             timeout=10)
        error_of(self, code, body, 400, "bad_request", "at most 2000")

    def test_head_replies_are_framed(self):
        """A HEAD reply carries its length and no body, so the next reply on
        the same connection is read intact."""
        s = socket.create_connection(addr(self.ph_base), timeout=10)
        try:
            s.sendall(("HEAD /v1/pharmacies/%s/orders HTTP/1.1\r\nHost: x\r\nAuthorization: "
                       "Bearer %s\r\n\r\nGET /v1/pharmacies/%s/orders?wait=0 HTTP/1.1\r\n"
                       "Host: x\r\nAuthorization: Bearer %s\r\n\r\n"
                       % (self.ph, self.ph_tok, self.ph, self.ph_tok)).encode())
            s.settimeout(5)
            data = b""
            while data.count(b"HTTP/1.1 ") < 2 or not data.endswith(b"\n"):
                b = s.recv(65536)
                if not b:
                    break
                data += b
            first, _, rest = data.partition(b"\r\n\r\n")
            self.assertIn(b" 405 ", first.split(b"\r\n")[0])
            self.assertRegex(first.decode(), r"(?i)content-length: \d+")
            self.assertTrue(rest.startswith(b"HTTP/1.1 200 "), rest[:80])
            self.assertEqual(json.loads(rest.partition(b"\r\n\r\n")[2]), {"orders": []})
        finally:
            s.close()

    def test_oversized_headers_and_bodies_get_json(self):
        """Headers over the limit: 431, a body announced over 4x the body
        limit: 413, both as SPEC section 6 JSON, without reading the body;
        a keep-alive connection with a normal request and then a big body
        is framed right."""
        path = "/v1/pharmacies/%s/status" % self.ph
        host = host_of(self.ph_base)
        for extra in (b"X-Pad: " + b"a" * 20000 + b"\r\n",
                      b"".join(b"X-H%d: v\r\n" % i for i in range(3000))):
            status, headers, body = raw_request(
                self.ph_base, b"GET /v1/orders/x HTTP/1.1\r\nHost: " + host.encode() +
                b"\r\n" + extra + b"\r\n")
            error_of(self, status, json.loads(body), 431, "headers_too_large", "limit")
            self.assertEqual(headers.get("content-type"), "application/json")
        size = 20 * 1024 * 1024
        head = ("PUT %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                % (path, host, self.ph_tok, size)).encode()
        status, headers, body = raw_request(self.ph_base, head + b"x" * 65536)
        error_of(self, status, json.loads(body), 413, "body_too_large", str(size))
        # keep-alive: good requests (a body sent in pieces), then an oversized
        # one, on one connection: each is framed where evhttp frames it
        good = json.dumps({"open": True}).encode()
        one = ("PUT %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
               % (path, host, self.ph_tok, len(good))).encode() + good
        s = socket.create_connection(addr(self.ph_base), timeout=10)
        try:
            for parts in ([one], [one[:20], one[20:-3], one[-3:]], [head]):
                for part in parts:
                    s.sendall(part)
                    time.sleep(0.05)
                status, _, body = read_reply(s)
                self.assertEqual(status, 413 if parts == [head] else 200, body)
        finally:
            s.close()
        code, body = self.stack.pharmacy_api("PUT", path, self.ph_tok, {"open": True})
        self.assertEqual(code, 200, body)

    # ---- item 6: long-polls ----

    def test_longpolls_capped_per_holder_and_released_on_hang_up(self):
        path = "/v1/pharmacies/%s/orders" % self.ph
        socks = [park(self.ph_base, path, self.ph_tok) for _ in range(PER_HOLDER)]
        try:
            time.sleep(0.3)
            t0 = time.time()
            s = park(self.ph_base, path, self.ph_tok)
            status, headers, body = read_reply(s)
            s.close()
            self.assertLess(time.time() - t0, 2)
            error_of(self, status, json.loads(body), 429, "too_many_waits")
            self.assertGreaterEqual(int(headers["retry-after"]), 1)
            # the clients hang up: their places come free without waiting 30 s
            for s in socks:
                s.close()
            socks = []

            def parks():
                code, body = self.stack.pharmacy_api("GET", path + "?wait=1", self.ph_tok)
                return code == 200

            wait_until(parks, 5, "a long-poll to be taken after the others hung up")
        finally:
            for s in socks:
                s.close()
        self.settle()

    def test_nothing_kept_after_clients_leave(self):
        """Long-polls whose clients hang up, refused headers and bodies,
        and short requests leave no socket behind in the gateway."""
        pid = gateway_pid(self.stack, "pharmacy-gw")
        path = "/v1/pharmacies/%s/orders" % self.ph
        before = open_fds(pid)
        host = host_of(self.ph_base).encode()
        for _ in range(100):
            s = park(self.ph_base, path, self.ph_tok)
            time.sleep(0.005)
            s.close()
            raw_request(self.ph_base, b"GET /v1/orders/x HTTP/1.1\r\nHost: " + host +
                        b"\r\nX-Pad: " + b"a" * 20000 + b"\r\n\r\n")
        self.settle()
        wait_until(lambda: open_fds(pid) <= before + 2, 10,
                   "the gateway's descriptors to come back (%d before)" % before)

    def test_longpolls_capped_in_total(self):
        holders = []
        for _ in range(TOTAL // PER_HOLDER + 1):
            co, tok = self.courier()
            holders.append(("/v1/couriers/%s/assignments" % co, tok))
        socks = []
        try:
            for path, tok in holders[:-1]:
                socks += [park(self.co_base, path, tok) for _ in range(PER_HOLDER)]
            time.sleep(0.3)
            parked = TOTAL // PER_HOLDER * PER_HOLDER
            self.assertLessEqual(parked, TOTAL)
            # fill up to the total with the last holder, then one more
            extra = [park(self.co_base, *holders[-1]) for _ in range(TOTAL - parked)]
            socks += extra
            time.sleep(0.3)
            s = park(self.co_base, *holders[-1])
            status, headers, body = read_reply(s)
            s.close()
            error_of(self, status, json.loads(body), 429, "too_many_waits", "gateway")
            self.assertIn("retry-after", headers)
        finally:
            for s in socks:
                s.close()

    # ---- item 6: rates per token holder ----

    def test_request_rate_is_per_holder(self):
        co, tok = self.courier()
        other, other_tok = self.courier()
        path = "/v1/couriers/%s/availability" % co
        codes = []
        for _ in range(REQ_BURST + 10):
            code, body = self.stack.courier_api("PUT", path, tok, {"available": False})
            codes.append(code)
            if code == 429:
                last = body
        self.assertIn(429, codes)
        self.assertGreaterEqual(codes.count(200), REQ_BURST - 5)
        error_of(self, 429, last, 429, "rate_limited")
        # another holder is not affected
        code, body = self.stack.courier_api("PUT", "/v1/couriers/%s/availability" % other,
                                            other_tok, {"available": False})
        self.assertEqual(code, 200, body)
        # and the limited one gets back in after the Retry-After
        time.sleep(1.1)
        code, body = self.stack.courier_api("PUT", path, tok, {"available": False})
        self.assertEqual(code, 200, body)

    def test_position_rate_counts_points_of_batches(self):
        co, tok = self.courier()
        t = now_ms() - 600 * 1000
        pts = [{"lat": self.home[0], "lon": self.home[1], "ts_ms": t + i} for i in range(POS_BURST)]
        code, body = self.stack.courier_api("POST", "/v1/couriers/%s/locations" % co, tok,
                                            {"points": pts})
        self.assertEqual(code, 200, body)
        code, body = self.stack.courier_api("PUT", "/v1/couriers/%s/location" % co, tok,
                                            self.point())
        error_of(self, code, body, 429, "rate_limited", "positions")
        time.sleep(1.2 / POS_RATE)
        code, body = self.stack.courier_api("PUT", "/v1/couriers/%s/location" % co, tok,
                                            self.point())
        self.assertEqual(code, 200, body)

    def test_positions_from_the_future_are_refused(self):
        co, tok = self.courier()
        path = "/v1/couriers/%s/location" % co
        year_2100 = 4102444800000
        for ts in (year_2100, now_ms() + 120 * 1000):
            code, body = self.stack.courier_api("PUT", path, tok, self.point(ts))
            error_of(self, code, body, 400, "bad_request", "in the future")
        code, body = self.stack.courier_api(
            "POST", "/v1/couriers/%s/locations" % co, tok,
            {"points": [self.point(now_ms() - 1000), self.point(year_2100)]})
        error_of(self, code, body, 400, "bad_request", "point 1")
        # a little clock skew is fine
        code, body = self.stack.courier_api("PUT", path, tok, self.point(now_ms() + 20 * 1000))
        self.assertEqual(code, 200, body)
        self.assertTrue(body["stored"], body)


class DescriptorLimitTest(StackTest):
    """At its open-files limit a gateway pauses accept() instead of spinning
    on it, and serves again once descriptors come back."""
    SERVICES = ["courier-gw"]

    def cpu_s(self, pid):
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def test_accept_backs_off_at_the_descriptor_limit(self):
        base = self.stack.vars["RXD_COURIER_API"]
        co = uid("co")
        tok = self.stack.token("courier", co)
        pid = gateway_pid(self.stack, "courier-gw")
        with open("/proc/%d/limits" % pid) as f:
            old = [ln for ln in f if ln.startswith("Max open files")][0].split()[3:5]
        open_fds = len(os.listdir("/proc/%d/fd" % pid))
        os.system("prlimit --pid %d --nofile=%d:%s" % (pid, open_fds + 8, old[1]))
        socks = []
        try:
            for _ in range(40):
                socks.append(socket.create_connection(addr(base), timeout=5))
            log0 = len(self.stack.log("courier-gw"))
            cpu0 = self.cpu_s(pid)
            time.sleep(3)
            cpu = self.cpu_s(pid) - cpu0
            grown = len(self.stack.log("courier-gw")) - log0
            print("\nat the descriptor limit for 3 s: %.2f s of CPU, %d bytes of log"
                  % (cpu, grown), file=sys.stderr)
            self.assertLess(cpu, 0.5)
            self.assertLess(grown, 20000)
            self.assertIn("accept_paused", self.stack.log("courier-gw"))
        finally:
            for s in socks:
                s.close()
            os.system("prlimit --pid %d --nofile=%s:%s" % (pid, old[0], old[1]))

        def serves():
            try:
                code, _ = self.stack.courier_api("PUT", "/v1/couriers/%s/availability" % co, tok,
                                                 {"available": False}, timeout=3)
                return code == 200
            except OSError:
                return False

        wait_until(serves, 10, "the gateway to serve again")


class FairnessTest(StackTest):
    """One courier token flooding the gateway (single positions, batches of
    500 and long-polls from several connections at once) against another
    courier's availability updates: the other's p99 latency with the flood
    stays within max(10 x its p99 without it, 250 ms). Default limits."""
    SERVICES = ["courier-gw"]
    ABUSERS = 6
    SAMPLES = 200
    BOUND_FACTOR, BOUND_FLOOR_MS = 10, 250

    def victim_latencies(self, base, co, tok):
        conn = http.client.HTTPConnection(*addr(base), timeout=10)
        hdrs = {"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
        out = []
        try:
            for i in range(self.SAMPLES):
                t0 = time.perf_counter()
                conn.request("PUT", "/v1/couriers/%s/availability" % co,
                             json.dumps({"available": i % 2 == 0}), hdrs)
                r = conn.getresponse()
                r.read()
                out.append((time.perf_counter() - t0) * 1000)
                self.assertEqual(r.status, 200)
                time.sleep(0.06)  # a busy app under its rate, not a flood: ~15 a second
        finally:
            conn.close()
        return out

    def test_abusive_token_does_not_slow_another_holder(self):
        base = self.stack.vars["RXD_COURIER_API"]
        home = area()
        victim = uid("co")
        victim_tok = self.stack.token("courier", victim)
        abuser = uid("co")
        abuser_tok = self.stack.token("courier", abuser)
        base_ms = self.victim_latencies(base, victim, victim_tok)
        point = {"lat": home[0], "lon": home[1], "ts_ms": now_ms()}
        batch = {"points": [{"lat": home[0], "lon": home[1], "ts_ms": now_ms() - 10 ** 6 + i}
                            for i in range(500)]}
        until = time.time() + 1 + self.SAMPLES * 0.07
        jobs = [(base, "/v1/couriers/%s/location" % abuser, abuser_tok, point, until)] * 3
        jobs += [(base, "/v1/couriers/%s/locations" % abuser, abuser_tok, batch, until)] * 3
        socks = [park(base, "/v1/couriers/%s/assignments" % abuser, abuser_tok)
                 for _ in range(20)]
        try:
            with multiprocessing.Pool(self.ABUSERS) as pool:
                res = pool.starmap_async(abuse, jobs[:self.ABUSERS])
                time.sleep(1)
                with_ms = self.victim_latencies(base, victim, victim_tok)
                seen = {}
                for counts in res.get(timeout=60):
                    for k, v in counts.items():
                        seen[k] = seen.get(k, 0) + v
        finally:
            for s in socks:
                s.close()
        print("\nabusive token's answers during the flood: %s" % sorted(seen.items()),
              file=sys.stderr)
        b99, w99 = p99(base_ms), p99(with_ms)
        bound = max(self.BOUND_FACTOR * b99, self.BOUND_FLOOR_MS)
        print("\nfairness: other holder's p99 %.1f ms without the abusive token, %.1f ms with "
              "it (median %.1f -> %.1f ms; bound %.0f ms)"
              % (b99, w99, sorted(base_ms)[len(base_ms) // 2],
                 sorted(with_ms)[len(with_ms) // 2], bound), file=sys.stderr)
        self.assertLess(w99, bound)


if __name__ == "__main__":
    unittest.main()
