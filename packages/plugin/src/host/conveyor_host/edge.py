"""The host's edge: Caddy in the compose project conveyor-edge, on the host network, owning the
HTTP and HTTPS ports for every app and environment on the host. Each name the edge serves is one
route file (<edge>/routes/<domain>.json: its owner, the app's public port, TLS mode, maintenance);
the Caddy config is made from all of them and loaded through Caddy's admin API, which listens on a
unix socket inside the container only. Certificates and keys stay in <edge>/data (Caddy writes
them 0600), so a restart or a reboot reuses them; Caddy renews them on its own, checking every
minute, once the share of a certificate's life in its route's renewal_window is left.

A release never changes a route that exists: colour switches happen in the app's own proxy, so the
edge's config changes only when a name is first served, its maintenance page goes on or off, or a
preview comes or goes."""
import contextlib
import fcntl
import http.client
import json
import os
import socket
import ssl
import tempfile
import time

from .common import Failure, out, read_json, read_text, write_atomic, write_json
from .engine import run

SHARED_CERT, SHARED_KEY = "CONVEYOR_SHARED_TLS_CERT", "CONVEYOR_SHARED_TLS_KEY"  # core/edge/edge.ts SHARED_TLS_VALUES
CONTAINER = "conveyor-edge"  # the default edge_name: the compose project and container
ADMIN_SOCKET = "/run/caddy/admin.sock"
MAINTENANCE_PAGE = "<!doctype html><title>Maintenance</title><h1>Down for maintenance</h1><p>Back soon.</p>\n"


class EdgeFiles:
    def __init__(self, path):
        self.path = path
        self.routes = os.path.join(path, "routes")
        self.conf = os.path.join(path, "conf")
        self.certs = os.path.join(path, "conf", "certs")
        self.config = os.path.join(path, "conf", "caddy.json")
        self.compose = os.path.join(path, "docker-compose.yml")

    def route(self, domain):
        return os.path.join(self.routes, f"{domain}.json")

    def all_routes(self):
        if not os.path.isdir(self.routes):
            return []
        found = []
        for name in sorted(os.listdir(self.routes)):
            if name.endswith(".json"):
                r = read_json(os.path.join(self.routes, name))
                if r and r.get("domain"):
                    found.append(r)
        return found


def proxy_to(port):
    # A dial refused while the app's proxy restarts is tried again, not answered 502.
    return {"handler": "reverse_proxy", "upstreams": [{"dial": f"127.0.0.1:{port}"}],
            "load_balancing": {"try_duration": "5s", "try_interval": "100ms"}}


def caddy_config(routes, http_port, https_port, certificates=None):
    """Caddy's JSON config for these routes (pure). Automatic HTTPS gets each acme route a
    certificate over HTTP-01 on http_port and redirects http to https; a custom or shared route's
    certificate is loaded from its files (the names in certificates, None: every such route) and
    never asked for. A shared route's ACME challenges go on to the fleet host that obtains its
    certificate (shared_from): the CA may ask any host the name resolves to."""
    handlers = []
    policies = {}
    custom = []
    forwards = []
    for r in routes:
        if r.get("maintenance"):
            handle = [{"handler": "static_response", "status_code": 503, "headers": {"Retry-After": ["60"], "Content-Type": ["text/html; charset=utf-8"]},
                       "body": MAINTENANCE_PAGE}]
        else:
            handle = [proxy_to(r["upstream"])]
            if r.get("api_upstream"):
                # /api/* to the backend (prefix stripped), the rest to the frontend.
                handle = [{"handler": "subroute", "routes": [
                    {"match": [{"path": ["/api/*"]}], "handle": [{"handler": "rewrite", "strip_path_prefix": "/api"},
                                                                 proxy_to(r["api_upstream"])]},
                    {"handle": handle}]}]
        handlers.append({"match": [{"host": [r["domain"]]}], "handle": handle, "terminal": True})
        if r["tls"] in ("custom", "shared"):
            custom.append(r["domain"])
            source = r.get("shared_from") if r["tls"] == "shared" else None
            if source:
                forwards.append({"match": [{"host": [r["domain"]], "path": ["/.well-known/acme-challenge/*"]}],
                                 "handle": [{"handler": "reverse_proxy",
                                             "upstreams": [{"dial": f"{source['address']}:{source['http_port']}"}]}],
                                 "terminal": True})
        else:
            acme = r.get("acme") or {}
            issuer = {"module": "acme", "ca": acme.get("ca", "")}
            if acme.get("email"):
                issuer["email"] = acme["email"]
            if acme.get("ca_root"):
                issuer["trusted_roots_pem_files"] = ["/etc/caddy/acme-ca-root.pem"]
            window = acme.get("renewal_window")
            key = json.dumps([issuer, window], sort_keys=True)
            policy = policies.setdefault(key, {"subjects": [], "issuers": [issuer]})
            if window:
                policy["renewal_window_ratio"] = window
            policy["subjects"].append(r["domain"])
    server = {"listen": [f":{https_port}"], "routes": handlers}
    servers = {"edge": server}
    if forwards:
        # Caddy appends its http->https redirects to a server of ours on the HTTP port, after these.
        servers["challenges"] = {"listen": [f":{http_port}"], "routes": forwards}
    if custom:
        server["automatic_https"] = {"skip_certificates": custom}
    config = {
        "admin": {"listen": f"unix/{ADMIN_SOCKET}"},
        "apps": {
            "http": {"http_port": http_port, "https_port": https_port, "servers": servers},
            # Certificates are checked for renewal every minute (Caddy's default: every 10).
            "tls": {"automation": {"policies": list(policies.values()), "renew_interval": "1m"}},
        },
    }
    loaded = [d for d in custom if certificates is None or d in certificates]
    if loaded:
        config["apps"]["tls"]["certificates"] = {"load_files": [
            {"certificate": f"/etc/caddy/certs/{d}.crt", "key": f"/etc/caddy/certs/{d}.key"} for d in loaded]}
    return config


def name_of(edge):
    return edge.get("name") or CONTAINER


def compose_text(image, name=CONTAINER):
    return "\n".join([
        "# The host's edge (written by the Conveyor host helper): every app's name on ports 80/443.",
        "services:",
        "  edge:",
        f"    image: {json.dumps(image)}",
        f"    container_name: {name}",
        "    network_mode: host",
        "    restart: unless-stopped",
        '    command: ["caddy", "run", "--config", "/etc/caddy/caddy.json"]',
        "    environment:",
        "      XDG_DATA_HOME: /data",
        "      XDG_CONFIG_HOME: /config",
        "    volumes:",
        "      - ./conf:/etc/caddy:ro",
        "      - ./data:/data",
        "      - ./config:/config",
        "      - ./run:/run/caddy",
        "",
    ])


@contextlib.contextmanager
def edge_lock(files):
    os.makedirs(files.path, mode=0o750, exist_ok=True)
    with open(os.path.join(files.path, ".lock"), "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def claim(edge, cli=None):
    """Refuses, before anything changes, a name another app or environment holds on this host, and
    an edge_path other than the folder the host's edge runs from."""
    if cli:
        where = run([cli, "inspect", "--format", '{{index .Config.Labels "com.docker.compose.project.working_dir"}}', name_of(edge)],
                    check=False)
        home = where.stdout.strip() if where.returncode == 0 else ""
        if home and os.path.realpath(home) != os.path.realpath(edge["path"]):
            raise Failure(f"the host's edge runs from {home}, not {edge['path']}: one edge serves a host, so give every "
                          f"app and environment there edge_path: {home}", "lock")
    held = read_json(EdgeFiles(edge["path"]).route(edge["domain"]))
    if held and held.get("owner") != edge["owner"]:
        raise Failure(f"{edge['domain']} is served on this host for {held.get('owner')}; {edge['owner']} cannot take it. "
                      f"Give one of them another domain (a name has one owner per host).", "lock")


def running(cli, name=CONTAINER):
    p = run([cli, "inspect", "--format", "{{.State.Running}}", name], check=False)
    return p.returncode == 0 and p.stdout.strip() == "true"


def certificate_files(files, domain):
    return os.path.join(files.certs, f"{domain}.crt"), os.path.join(files.certs, f"{domain}.key")


def apply(files, edge, cli, compose, reload=False):
    """Writes the config from every route and makes the edge serve it: started when it does not
    run, else reloaded through its admin API when the config changed (or reload: a certificate
    file changed under the same config)."""
    routes = files.all_routes()
    have = {r["domain"] for r in routes if all(os.path.exists(f) for f in certificate_files(files, r["domain"]))}
    text = json.dumps(caddy_config(routes, edge["http_port"], edge["https_port"], have), indent=2, sort_keys=True) + "\n"
    for d in ("data", "config", "run"):
        os.makedirs(os.path.join(files.path, d), mode=0o700, exist_ok=True)
    os.makedirs(files.certs, mode=0o700, exist_ok=True)
    changed = text.strip() != read_text(files.config)
    write_atomic(files.config, text, 0o644)
    ca_root = (edge.get("acme") or {}).get("ca_root")
    if ca_root:
        write_atomic(os.path.join(files.conf, "acme-ca-root.pem"), ca_root, 0o644)
    name = name_of(edge)
    write_atomic(files.compose, compose_text(edge["image"], name), 0o644)
    if not running(cli, name):
        out("edge", what="starting the edge", image=edge["image"])
        run(compose + ["-p", name, "up", "-d"], cwd=files.path)
        wait_admin(cli, name)
    elif changed or reload:
        out("edge", what="loading the edge's new config" if changed else "loading the name's new certificate")
        run([cli, "exec", name, "caddy", "reload", "--config", "/etc/caddy/caddy.json", "--force"], timeout=60)


def wait_admin(cli, name, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if run([cli, "exec", name, "test", "-S", ADMIN_SOCKET], check=False).returncode == 0:
            return
        time.sleep(0.3)
    logs = run([cli, "logs", "--tail", "30", name], check=False)
    raise Failure(f"the edge did not start: {(logs.stderr or logs.stdout).strip()[-600:]}", "edge")


def serve(plan, secret_values, cli, compose):
    """The app's name served by the edge, checked through it: routed to the app's public port, a
    certificate in place (the first deploy of a name waits for the ACME CA), HTTP redirected."""
    edge = plan["edge"]
    route = put_route(edge, secret_values, cli, compose)
    if route["maintenance"]:
        out("warning", what=f"{edge['domain']} is in maintenance: the edge answers 503 until nx run <app>:maintenance --off")
        return
    check(edge, plan["target"]["tag"] if plan.get("version_check") else None)


def put_route(edge, secret_values, cli, compose):
    """The name's route as the plan says (its maintenance flag kept) and its certificate files
    (custom: the app's secrets; shared: the copy the deploy brought, else the one already here),
    loaded into the edge. Returns the route."""
    files = EdgeFiles(edge["path"])
    with edge_lock(files):
        claim(edge, cli)
        os.makedirs(files.routes, mode=0o750, exist_ok=True)
        old = read_json(files.route(edge["domain"])) or {}
        route = {"domain": edge["domain"], "owner": edge["owner"], "upstream": edge["upstream"],
                 "api_upstream": edge.get("api_upstream"), "tls": edge["tls"],
                 "acme": {k: v for k, v in (edge.get("acme") or {}).items() if k != "ca_root"} | (
                     {"ca_root": True} if (edge.get("acme") or {}).get("ca_root") else {}),
                 "maintenance": bool(old.get("maintenance"))}
        if edge.get("shared_from"):
            route["shared_from"] = edge["shared_from"]
        renewed = False
        if edge["tls"] == "custom":
            renewed = write_certificate(files, edge["domain"], secret_values.get("TLS_CERT", ""), secret_values.get("TLS_KEY", ""),
                                        "tls is custom, but the app's secrets hold no PEM TLS_CERT and TLS_KEY")
        elif edge["tls"] == "shared" and SHARED_CERT in secret_values:
            renewed = write_certificate(files, edge["domain"], secret_values[SHARED_CERT], secret_values.get(SHARED_KEY, ""),
                                        f"the certificate of {edge['domain']} from {edge['shared_from']['host']} is not PEM")
        if route != old:
            write_json(files.route(edge["domain"]), route)
        apply(files, edge, cli, compose, reload=renewed and route == old)
    return route


def write_certificate(files, domain, cert, key, problem):
    """A certificate and its key as the edge's files (0600); whether they changed."""
    if "BEGIN CERTIFICATE" not in cert or "PRIVATE KEY" not in key:
        raise Failure(problem, "edge")
    os.makedirs(files.certs, mode=0o700, exist_ok=True)
    crt_path, key_path = certificate_files(files, domain)
    if read_text(crt_path) == cert.strip() and read_text(key_path) == key.strip():
        return False
    write_atomic(key_path, key, 0o600)
    write_atomic(crt_path, cert, 0o600)
    return True


def obtained_certificate(edge, cli):
    """The certificate and key the edge obtained over ACME for edge's domain (the newest, if the
    CA changed), read through the engine (the edge's data belongs to its container's user), or
    None when it has none yet."""
    d = edge["domain"]
    script = f'f=$(ls -t /data/caddy/certificates/*/{d}/{d}.crt 2>/dev/null | head -n 1); [ -n "$f" ] && cat "$f" && echo "" && cat "${{f%.crt}}.key"'
    p = run([cli, "exec", name_of(edge), "sh", "-c", script], check=False, timeout=30)
    text = p.stdout if p.returncode == 0 else ""
    cut = text.find("-----END CERTIFICATE-----")
    if cut < 0 or "PRIVATE KEY" not in text:
        return None
    # The chain ends at the last certificate; the key follows.
    last = text.rfind("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
    return {"cert": text[:last].strip() + "\n", "key": text[last:].strip() + "\n"}


def https_get(port, domain, path, timeout=5):
    """(status, body, certificate) of GET https://domain/path sent to 127.0.0.1:port (SNI and Host
    are the domain); the certificate is checked later, by its issuer and dates, not here."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
    try:
        conn.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=timeout), server_hostname=domain)
        conn.request("GET", path, headers={"Host": domain})
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace"), conn.sock.getpeercert(binary_form=True)
    finally:
        conn.close()


def http_status(port, domain, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": domain})
        r = conn.getresponse()
        return r.status, r.getheader("Location", "")
    finally:
        conn.close()


def check(edge, tag, seconds=120):
    """Waits until the name answers through the edge over HTTPS as this release (tag), and HTTP
    redirects to HTTPS. A first certificate can take the ACME CA a while."""
    deadline = time.monotonic() + seconds
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            status, body, _ = https_get(edge["https_port"], edge["domain"], edge["check_path"])
            if status == 200 and tag and edge.get("version_path"):
                s2, body2, _ = https_get(edge["https_port"], edge["domain"], edge["version_path"])
                got = (json.loads(body2).get("version") or {}).get("image_tag") if s2 == 200 else None
                status, last = (200, "") if got == tag else (0, f"{edge['version_path']} shows {got!r}, not {tag}")
            if status == 200:
                code, location = http_status(edge["http_port"], edge["domain"], "/")
                if code in (301, 302, 307, 308) and location.startswith(f"https://{edge['domain']}"):
                    out("edge", what=f"https://{edge['domain']} serves {tag or 'the release'}; http redirects to https")
                    return
                last = f"http://{edge['domain']}/ answered {code}, not a redirect to https"
            elif status:
                last = f"{edge['check_path']} answered {status}"
        except (OSError, ssl.SSLError, http.client.HTTPException, ValueError) as e:
            last = f"{type(e).__name__}: {e}"
        time.sleep(0.5)
    raise Failure(f"the release is live on its ports, but https://{edge['domain']} is not served through the edge: {last}", "edge")


def certificate_info(port, domain):
    """Issuer and expiry of the certificate the edge presents for domain, or None."""
    try:
        _, _, der = https_get(port, domain, "/")
    except (OSError, ssl.SSLError, http.client.HTTPException):
        return None
    if not der:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
        f.write(ssl.DER_cert_to_PEM_cert(der))
        f.flush()
        try:
            decoded = ssl._ssl._test_decode_cert(f.name)  # noqa: SLF001 - the standard library's own X.509 reader
        except (AttributeError, ssl.SSLError):
            return None
    issuer = ", ".join("=".join(x) for rdn in decoded.get("issuer", ()) for x in rdn)
    return {"issuer": issuer, "not_after": decoded.get("notAfter", "")}


def maintenance(edge_path, domain, owner, on, cli, compose, image, http_port, https_port, name=CONTAINER):
    """The name's maintenance page on or off; the release behind it keeps running."""
    files = EdgeFiles(edge_path)
    with edge_lock(files):
        route = read_json(files.route(domain))
        if not route:
            out("result", status="failed", error=f"{domain} is not served by the edge on this host: deploy the app first")
            return 1
        if route.get("owner") != owner:
            out("result", status="failed", error=f"{domain} is served for {route.get('owner')}, not {owner}")
            return 1
        if route.get("maintenance") != on:
            route["maintenance"] = on
            write_json(files.route(domain), route)
        apply(files, {"path": edge_path, "name": name, "image": image, "http_port": http_port, "https_port": https_port}, cli, compose)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            status, _, _ = https_get(https_port, domain, "/")
        except (OSError, ssl.SSLError, http.client.HTTPException):
            status = 0
        if (status == 503) == on and status:
            out("result", status="ok", message=f"{domain}: maintenance {'on (503 with Retry-After)' if on else 'off: the release serves again'}")
            return 0
        time.sleep(0.3)
    out("result", status="failed", error=f"{domain} did not {'answer 503' if on else 'serve the release'} through the edge within 20 s")
    return 1
