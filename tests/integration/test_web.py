"""The web service (docs/web.md): the pages served from memory with a strict
CSP, /config.json, one-time login links (rxctl login-link -> POST /v1/login),
and CORS on the API gateways for the pages' origin.

The pages themselves are not needed: a tiny fixture web root stands in for
web/dist (RXD_WEB_ROOT)."""
import http.client as httpc
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse

from harness import BUILD, StackTest, free_port, http, http_status, wait_until

CSP_HEAD = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self' ")
CSP_TAIL = ("; font-src 'self'; media-src 'self'; manifest-src 'self'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")
EVIL = "http://evil.example:9999"

FIXTURE = {
    "console/index.html": "<!doctype html><title>console</title><script src=/app.js></script>",
    "pharmacy/index.html": "<!doctype html><title>pharmacy</title>",
    "courier/index.html": "<!doctype html><title>courier</title>",
    "login/index.html": "<!doctype html><title>login</title>",
    "app.js": "console.log('rxd');\n",
    "ignored.exe": "MZ",
}


def make_root():
    root = tempfile.mkdtemp(prefix="rxd-web-root-")
    for path, text in FIXTURE.items():
        os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
        with open(os.path.join(root, path), "w") as f:
            f.write(text)
    return root


def raw(base, method, path, headers=None, body=None):
    """(status, headers dict lower-cased, body bytes), the path sent as is."""
    u = urllib.parse.urlsplit(base)
    c = httpc.HTTPConnection(u.hostname, u.port, timeout=20)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


class WebTest(StackTest):
    ROOT = make_root()
    STACK_ENV = {"RXD_WEB_ROOT": ROOT}
    SERVICES = ["pharmacy-gw", "courier-gw", "operator-api", "web"]

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.ROOT, ignore_errors=True)

    def setUp(self):
        self.web = self.stack.vars["RXD_WEB"]
        self.apis = {"pharmacy": self.stack.vars["RXD_PHARMACY_API"],
                     "courier": self.stack.vars["RXD_COURIER_API"],
                     "operator": self.stack.vars["RXD_OPERATOR_API"]}

    def assertSecure(self, h, html):
        self.assertEqual(h["content-security-policy"],
                         CSP_HEAD + " ".join([self.apis["pharmacy"], self.apis["courier"],
                                              self.apis["operator"]]) + CSP_TAIL)
        self.assertNotIn("unsafe", h["content-security-policy"])
        self.assertEqual(h["x-content-type-options"], "nosniff")
        self.assertEqual(h["referrer-policy"], "no-referrer")
        self.assertEqual(h["x-frame-options"], "DENY")
        if html:
            self.assertEqual(h["permissions-policy"], "geolocation=(self)")
        else:
            self.assertNotIn("permissions-policy", h)

    def link(self, role, id, *extra):
        out = self.stack.rxctl("login-link", "--role", role, "--id", id, *extra).stdout.strip()
        m = re.fullmatch(re.escape(self.web) + r"/login/#code=([A-Za-z0-9_-]{43})", out)
        self.assertIsNotNone(m, out)
        return m.group(1)

    # ---- files ----

    def test_pages_and_files_with_headers(self):
        for page in ("console", "pharmacy", "courier", "login"):
            st, h, body = raw(self.web, "GET", "/%s/" % page)
            self.assertEqual(st, 200, page)
            self.assertEqual(body.decode(), FIXTURE[page + "/index.html"])
            self.assertEqual(h["content-type"], "text/html; charset=utf-8")
            self.assertEqual(h["cache-control"], "no-cache")
            self.assertSecure(h, html=True)
        st, h, body = raw(self.web, "GET", "/app.js")
        self.assertEqual((st, body.decode()), (200, FIXTURE["app.js"]))
        self.assertEqual(h["content-type"], "text/javascript; charset=utf-8")
        self.assertRegex(h["cache-control"], r"max-age=\d+")
        self.assertSecure(h, html=False)
        st, h2, _ = raw(self.web, "GET", "/app.js", headers={"If-None-Match": h["etag"]})
        self.assertEqual(st, 304)
        st, h3, body = raw(self.web, "HEAD", "/app.js")
        self.assertEqual((st, body, h3["content-length"]), (200, b"", str(len(FIXTURE["app.js"]))))

    def test_redirects_404_405_and_traversal(self):
        st, h, _ = raw(self.web, "GET", "/")
        self.assertEqual((st, h["location"]), (302, "/console/"))
        self.assertSecure(h, html=False)
        st, h, _ = raw(self.web, "GET", "/courier")
        self.assertEqual((st, h["location"]), (301, "/courier/"))
        for path in ("/nope.js", "/ignored.exe", "/console/../app.js", "/../etc/passwd",
                     "/%2e%2e/etc/passwd", "/console/%2e%2e/app.js", "/console%2Findex.html",
                     "/.." + "/..%2f" * 3 + "etc/passwd", "//etc/passwd"):
            st, h, body = raw(self.web, "GET", path)
            self.assertEqual(st, 404, path)
            self.assertNotIn(b"root:", body)
        # paths the gateway's splitter refuses (a NUL, a long segment, too
        # many segments) still reach the files' route: 404 with the headers
        for path in ("/console/index.html%00", "/" + "a" * 300, "/a" * 20):
            st, h, _ = raw(self.web, "GET", path)
            self.assertEqual(st, 404, path)
            self.assertSecure(h, html=False)
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            st, h, _ = raw(self.web, method, "/app.js", body=b"x")
            self.assertEqual(st, 405, method)
            self.assertEqual(h["allow"], "GET, HEAD")
            self.assertSecure(h, html=False)

    def test_config_json(self):
        st, h, body = raw(self.web, "GET", "/config.json")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(h["cache-control"], "no-cache")
        import json
        self.assertEqual(json.loads(body), {
            "region": "default", "tz": "Asia/Shanghai", "apis": self.apis, "tiles": "",
            "tiles_crs": "gcj02"})

    # ---- login links ----

    def test_login_link_round_trip(self):
        cid = "c-web-%d" % os.getpid()
        code = self.link("courier", cid)
        st, body = http("POST", self.web + "/v1/login", body={"code": code})
        self.assertEqual(st, 200, body)
        self.assertEqual((body["role"], body["id"], body["page"]), ("courier", cid, "/courier/"))
        token = body["token"]
        st, got = http("GET", "%s/v1/couriers/%s/assignments?wait=0" % (self.apis["courier"], cid),
                       token=token)
        self.assertEqual(st, 200, got)
        self.assertEqual(got, {"assignments": []})
        st, got = http("GET", "%s/v1/couriers/other-%s/assignments?wait=0"
                       % (self.apis["courier"], cid), token=token)
        self.assertEqual(st, 403, got)
        # once only
        st, body = http("POST", self.web + "/v1/login", body={"code": code})
        self.assertEqual((st, body["error"]["code"]), (401, "bad_login_code"))
        # the staff open the console
        st, body = http("POST", self.web + "/v1/login",
                        body={"code": self.link("auditor", "a-web")})
        self.assertEqual((st, body["page"]), (200, "/console/"))
        log = self.stack.log("web")
        self.assertIn('"login"', log)
        self.assertNotIn(token, log)
        self.assertNotIn(code, log)
        self.assertNotIn(body["token"], log)

    def test_expired_and_bad_codes(self):
        code = self.link("pharmacy", "p-web", "--ttl", "1")
        time.sleep(2.2)
        st, body = http("POST", self.web + "/v1/login", body={"code": code})
        self.assertEqual((st, body["error"]["code"]), (401, "bad_login_code"))
        st, _ = http("POST", self.web + "/v1/login", body={"code": "A" * 43})
        self.assertEqual(st, 401)
        st, _ = http("POST", self.web + "/v1/login", body={"code": "../x"})
        self.assertEqual(st, 401)
        for bad in (b"not json", b"[]", b'{"code": 5}', b""):
            st, h, _ = raw(self.web, "POST", "/v1/login", body=bad,
                           headers={"Content-Type": "application/json"})
            self.assertEqual(st, 400, bad)
            self.assertSecure(h, html=False)
        p = subprocess.run([os.path.join(BUILD, "services", "rxctl", "rxctl"), "login-link",
                            "--role", "courier", "--id", "c1", "--ttl", "86401"],
                           env=self.stack.env, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--ttl", p.stderr)

    # ---- CORS on the gateways ----

    def test_cors_allowed_origin(self):
        origin = self.web
        for name, base in self.apis.items():
            st, h, body = raw(base, "OPTIONS", "/v1/orders/x",
                              headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                       "Access-Control-Request-Headers": "authorization"})
            self.assertEqual(st, 204, (name, body))
            self.assertEqual(h["access-control-allow-origin"], origin)
            self.assertEqual(h["access-control-allow-methods"], "GET, POST, PUT, DELETE")
            self.assertIn("Authorization", h["access-control-allow-headers"])
            self.assertIn("Content-Type", h["access-control-allow-headers"])
            self.assertEqual(h["access-control-max-age"], "600")
            self.assertIn("Origin", h["vary"])
            # an ordinary request: the allow header on whatever it gets
            st, h, _ = raw(base, "GET", "/v1/orders/x", headers={"Origin": origin})
            self.assertIn(st, (401, 404), name)  # courier-gw has no GET /v1/orders/*
            self.assertEqual(h["access-control-allow-origin"], origin)

    def test_cors_other_origin_gets_nothing(self):
        for name, base in self.apis.items():
            st, h, _ = raw(base, "OPTIONS", "/v1/orders/x",
                           headers={"Origin": EVIL, "Access-Control-Request-Method": "GET"})
            self.assertEqual(st, 403, name)
            self.assertFalse([k for k in h if k.startswith("access-control-")], (name, h))
            st, h, _ = raw(base, "GET", "/v1/orders/x", headers={"Origin": EVIL})
            self.assertFalse([k for k in h if k.startswith("access-control-")], (name, h))

    def test_cors_keeps_authorization(self):
        token = self.stack.token("courier", "c-cors")
        st, body = http("GET", self.apis["operator"] + "/v1/orders", token=token,
                        headers={"Origin": self.web})
        self.assertEqual(st, 403, body)
        st, body = http("GET", self.apis["operator"] + "/v1/orders",
                        token=self.stack.token("operator", "o-cors"), headers={"Origin": self.web})
        self.assertEqual(st, 200, body)

    # ---- start-up ----

    def test_refuses_a_root_without_the_pages(self):
        empty = tempfile.mkdtemp(prefix="rxd-web-empty-")
        try:
            for root in (empty, os.path.join(empty, "missing")):
                env = dict(self.stack.env, RXD_WEB_ROOT=root, RXD_HTTP_PORT=str(free_port()),
                           RXD_ADMIN_PORT=str(free_port()))
                p = subprocess.run([os.path.join(BUILD, "services", "web", "web")], env=env,
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn("RXD_WEB_ROOT", p.stderr)
        finally:
            shutil.rmtree(empty, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
