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

from .support import captured

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
