"""The edge's config, claims and maintenance switch. Caddy itself checks the config the helper
writes (caddy validate): the same binary the edge image runs."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from conveyor_host import edge
from conveyor_host.common import Failure, read_json, write_json

from .support import captured, fake_command

ACME = {"ca": "https://127.0.0.1:14000/dir", "email": "ops@shop.test"}


def route(domain, owner, upstream, **more):
    return {"domain": domain, "owner": owner, "upstream": upstream, "tls": "acme", "acme": ACME, "maintenance": False, **more}


class CaddyConfigTest(unittest.TestCase):
    def test_each_name_goes_to_its_app_and_acme_names_share_a_policy(self):
        c = edge.caddy_config([route("shop.test", "shop/staging", 18081), route("blog.test", "blog/staging", 18091)], 80, 443)
        server = c["apps"]["http"]["servers"]["edge"]
        self.assertEqual(server["listen"], [":443"])
        dial = {r["match"][0]["host"][0]: r["handle"][0]["upstreams"][0]["dial"] for r in server["routes"]}
        self.assertEqual(dial, {"shop.test": "127.0.0.1:18081", "blog.test": "127.0.0.1:18091"})
        with_api = edge.caddy_config([route("shop.test", "shop/staging", 18081, api_upstream=18080)], 80, 443)
        sub = with_api["apps"]["http"]["servers"]["edge"]["routes"][0]["handle"][0]["routes"]
        self.assertEqual(sub[0]["match"], [{"path": ["/api/*"]}])
        self.assertEqual(sub[0]["handle"][0], {"handler": "rewrite", "strip_path_prefix": "/api"})
        self.assertEqual(sub[0]["handle"][1]["upstreams"], [{"dial": "127.0.0.1:18080"}])
        self.assertEqual(sub[1]["handle"][0]["upstreams"], [{"dial": "127.0.0.1:18081"}])
        policies = c["apps"]["tls"]["automation"]["policies"]
        self.assertEqual(len(policies), 1)
        self.assertEqual(sorted(policies[0]["subjects"]), ["blog.test", "shop.test"])
        self.assertEqual(policies[0]["issuers"][0], {"module": "acme", **ACME})
        # The admin API is a unix socket inside the container: nothing outside the host reaches it.
        self.assertTrue(c["admin"]["listen"].startswith("unix//"))

    def test_maintenance_answers_503_with_retry_after(self):
        c = edge.caddy_config([route("shop.test", "shop/staging", 18081, maintenance=True)], 80, 443)
        h = c["apps"]["http"]["servers"]["edge"]["routes"][0]["handle"][0]
        self.assertEqual((h["handler"], h["status_code"], h["headers"]["Retry-After"]), ("static_response", 503, ["60"]))

    def test_a_custom_certificate_is_loaded_and_never_asked_for(self):
        c = edge.caddy_config([route("shop.test", "shop/staging", 18081, tls="custom")], 80, 443)
        self.assertEqual(c["apps"]["http"]["servers"]["edge"]["automatic_https"], {"skip_certificates": ["shop.test"]})
        self.assertEqual(c["apps"]["tls"]["certificates"]["load_files"][0]["key"], "/etc/caddy/certs/shop.test.key")
        self.assertEqual(c["apps"]["tls"]["automation"]["policies"], [])

    def test_a_shared_certificate_is_loaded_once_here_and_its_challenges_go_to_the_holder(self):
        shared = route("shop.test", "shop/staging", 18081, tls="shared", shared_from={"host": "web-1", "address": "10.0.0.1", "http_port": 80})
        before = edge.caddy_config([shared], 80, 443, certificates=set())
        self.assertEqual(before["apps"]["http"]["servers"]["edge"]["automatic_https"], {"skip_certificates": ["shop.test"]})
        self.assertNotIn("certificates", before["apps"]["tls"])
        challenges = before["apps"]["http"]["servers"]["challenges"]
        self.assertEqual(challenges["listen"], [":80"])
        self.assertEqual(challenges["routes"][0]["match"], [{"host": ["shop.test"], "path": ["/.well-known/acme-challenge/*"]}])
        self.assertEqual(challenges["routes"][0]["handle"][0]["upstreams"], [{"dial": "10.0.0.1:80"}])
        after = edge.caddy_config([shared], 80, 443, certificates={"shop.test"})
        self.assertEqual(after["apps"]["tls"]["certificates"]["load_files"][0]["certificate"], "/etc/caddy/certs/shop.test.crt")
        self.assertEqual(after["apps"]["tls"]["automation"]["policies"], [])

    def test_caddy_passes_a_challenge_on_and_still_redirects_everything_else(self):
        """Real Caddy on this machine: the challenge route comes before the redirect it appends."""
        caddy = shutil.which("caddy")
        self.assertIsNotNone(caddy, "Debian's caddy is installed by tools/env/up.sh")
        import http.client
        import http.server
        import socket
        import threading
        import time

        def free():
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                return s.getsockname()[1]

        class Holder(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = f"holder:{self.headers['Host']}:{self.path}".encode()
                self.send_response(200)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_):
                pass

        holder = http.server.HTTPServer(("127.0.0.1", 0), Holder)
        threading.Thread(target=holder.serve_forever, daemon=True).start()
        self.addCleanup(holder.server_close)
        self.addCleanup(holder.shutdown)
        http_port, https_port = free(), free()
        shared = route("shop.test", "shop/staging", free(), tls="shared",
                       shared_from={"host": "web-1", "address": "127.0.0.1", "http_port": holder.server_port})
        c = edge.caddy_config([shared], http_port, https_port, certificates=set())
        with tempfile.TemporaryDirectory() as d:
            c["admin"]["listen"] = f"unix/{d}/admin.sock"
            path = os.path.join(d, "caddy.json")
            with open(path, "w") as f:
                json.dump(c, f)
            proc = subprocess.Popen([caddy, "run", "--config", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    env={**os.environ, "XDG_DATA_HOME": d, "XDG_CONFIG_HOME": d})
            self.addCleanup(proc.wait)
            self.addCleanup(proc.kill)

            def get(path):
                deadline = time.monotonic() + 15
                while True:
                    conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
                    try:
                        conn.request("GET", path, headers={"Host": "shop.test"})
                        r = conn.getresponse()
                        return r.status, r.read().decode(), r.getheader("Location", "")
                    except OSError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.2)
                    finally:
                        conn.close()

            self.assertEqual(get("/.well-known/acme-challenge/tok")[:2], (200, f"holder:shop.test:/.well-known/acme-challenge/tok"))
            status, _, location = get("/page")
            self.assertIn(status, (301, 302, 307, 308))
            self.assertTrue(location.startswith("https://shop.test"), location)

    def test_caddy_accepts_the_config(self):
        caddy = shutil.which("caddy")
        self.assertIsNotNone(caddy, "Debian's caddy is installed by tools/env/up.sh")
        c = edge.caddy_config([route("shop.test", "shop/staging", 18081, api_upstream=18080, acme={**ACME, "ca_root": True, "renewal_window": 1}),
                               route("down.test", "down/prod", 18091, maintenance=True)], 18080, 18443)
        with tempfile.TemporaryDirectory() as d:
            # The config names the CA root as the container sees it: point it at a real PEM here.
            pem = os.path.join(d, "root.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", os.path.join(d, "k"), "-out", pem,
                            "-days", "1", "-subj", "/CN=test"], check=True, capture_output=True)
            for p in c["apps"]["tls"]["automation"]["policies"]:
                for i in p["issuers"]:
                    if "trusted_roots_pem_files" in i:
                        i["trusted_roots_pem_files"] = [pem]
            c["admin"]["listen"] = f"unix/{d}/admin.sock"
            path = os.path.join(d, "caddy.json")
            with open(path, "w") as f:
                json.dump(c, f)
            r = subprocess.run([caddy, "validate", "--config", path], capture_output=True, text=True,
                               env={**os.environ, "XDG_DATA_HOME": d, "XDG_CONFIG_HOME": d})
            self.assertEqual(r.returncode, 0, r.stderr[-800:])


class ClaimTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.files = edge.EdgeFiles(self.tmp.name)
        os.makedirs(self.files.routes)
        write_json(self.files.route("shop.test"), route("shop.test", "shop/production", 18081))

    def plan(self, owner):
        return {"path": self.tmp.name, "domain": "shop.test", "owner": owner}

    def test_a_name_held_by_another_app_or_environment_is_refused_naming_both(self):
        with self.assertRaises(Failure) as e:
            edge.claim(self.plan("shop/staging"))
        self.assertIn("shop.test is served on this host for shop/production; shop/staging cannot take it", str(e.exception))

    def test_its_own_name_and_a_free_name_are_taken(self):
        edge.claim(self.plan("shop/production"))
        edge.claim({**self.plan("blog/staging"), "domain": "blog.test"})


class SharedCertificateTest(unittest.TestCase):
    """A fleet host's copy of the holder's certificate: written 0600, loaded, reloaded only when it changed."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.path = os.path.join(self.tmp.name, "edge")
        self.log = os.path.join(self.tmp.name, "calls")
        # The engine: the edge runs; every call is logged.
        self.cli = fake_command(self.tmp.name, "engine", f'echo "$*" >> {self.log}\ncase "$*" in *State.Running*) echo true;; esac\n')
        self.edge = {"path": self.path, "domain": "shop.test", "owner": "shop/staging", "upstream": 18081, "tls": "shared",
                     "shared_from": {"host": "web-1", "address": "10.0.0.1", "http_port": 80},
                     "name": "conveyor-edge", "image": "caddy:2", "http_port": 80, "https_port": 443}

    def put(self, values):
        open(self.log, "w").close()
        return captured(edge.put_route, self.edge, values, self.cli, ["false"])[0]

    def reloads(self):
        with open(self.log) as f:
            return [line for line in f if "caddy reload" in line]

    def pem(self, n):
        return ({edge.SHARED_CERT: f"-----BEGIN CERTIFICATE-----\n{n}\n-----END CERTIFICATE-----\n",
                 edge.SHARED_KEY: f"-----BEGIN PRIVATE KEY-----\n{n}\n-----END PRIVATE KEY-----\n"})

    def test_before_its_copy_arrives_only_the_challenges_are_passed_on(self):
        self.put({})
        files = edge.EdgeFiles(self.path)
        config = read_json(files.config)
        self.assertNotIn("certificates", config["apps"]["tls"])
        self.assertEqual(config["apps"]["http"]["servers"]["challenges"]["routes"][0]["handle"][0]["upstreams"], [{"dial": "10.0.0.1:80"}])
        self.assertEqual(read_json(files.route("shop.test"))["shared_from"]["host"], "web-1")

    def test_a_copy_is_written_0600_loaded_and_reloaded_only_when_it_changes(self):
        self.put({})
        self.put(self.pem(1))
        files = edge.EdgeFiles(self.path)
        crt, key = edge.certificate_files(files, "shop.test")
        self.assertEqual(oct(os.stat(key).st_mode & 0o777), "0o600")
        self.assertEqual(oct(os.stat(crt).st_mode & 0o777), "0o600")
        self.assertEqual(read_json(files.config)["apps"]["tls"]["certificates"]["load_files"][0]["key"], "/etc/caddy/certs/shop.test.key")
        self.assertEqual(len(self.reloads()), 1)
        self.put(self.pem(1))
        self.assertEqual(self.reloads(), [])
        self.put({})
        self.assertEqual(self.reloads(), [], "no copy brought: the one here stays")
        self.put(self.pem(2))
        self.assertEqual(len(self.reloads()), 1, "a renewed copy: the same config, loaded again")
        with open(crt) as f:
            self.assertIn("\n2\n", f.read())

    def test_a_copy_that_is_not_pem_is_refused_naming_the_holder(self):
        with self.assertRaises(Failure) as e:
            self.put({edge.SHARED_CERT: "nope", edge.SHARED_KEY: "nope"})
        self.assertIn("the certificate of shop.test from web-1 is not PEM", str(e.exception))


class MaintenanceTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        os.makedirs(edge.EdgeFiles(self.tmp.name).routes)
        write_json(edge.EdgeFiles(self.tmp.name).route("shop.test"), route("shop.test", "shop/production", 18081))

    def switch(self, domain, owner):
        return captured(edge.maintenance, self.tmp.name, domain, owner, True, "false", ["false"], "caddy:2", 80, 443)

    def test_a_name_the_edge_does_not_serve_or_that_another_owner_holds_is_refused_and_nothing_changes(self):
        code, lines, _ = self.switch("blog.test", "blog/production")
        self.assertEqual(code, 1)
        self.assertIn("blog.test is not served by the edge on this host: deploy the app first", lines[-1]["error"])
        code, lines, _ = self.switch("shop.test", "shop/staging")
        self.assertEqual(code, 1)
        self.assertEqual(lines[-1]["error"], "shop.test is served for shop/production, not shop/staging")
        self.assertFalse(read_json(edge.EdgeFiles(self.tmp.name).route("shop.test"))["maintenance"])


if __name__ == "__main__":
    unittest.main()
