"""The proxy (blue-green): HAProxy on the host network; its configuration on disk always routes
where the runtime does, so a restarted proxy serves the same colour. Its files, its runtime API
(admin.sock), where it routes now, the switch, a reload in place, and the canary's weights."""
import json
import os
import socket
import time
from types import SimpleNamespace

from .common import COLORS, Failure, write_atomic
from .engine import run

HAPROXY_COMMAND = ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]


def proxy_config(plan, live_color):
    uid, gid = os.getuid(), os.getgid()
    lines = [
        f"# Written by Conveyor for {plan['app']} ({plan['env']}). HAProxy owns the public ports and routes",
        "# to the live colour; switches go through the runtime API (admin.sock) and are written here too.",
        "global",
        "    log stdout format raw local0 info",
        f"    stats socket /run/haproxy/admin.sock mode 660 uid {uid} gid {gid} level admin",
        "",
        "defaults",
        "    mode http",
        "    log global",
        "    timeout connect 3s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-keep-alive 60s",
        "    # A request that meets a colour while it stops is sent again to the live one.",
        "    retries 3",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response",
        "    # A reload (a component added) lets the old worker answer the next request of an idle",
        "    # keep-alive connection with 'Connection: close' rather than close it under the client.",
        "    option idle-close-on-response",
        "",
    ]
    for component in plan["components"]:
        lines += [f"frontend {component}", f"    bind :{plan['public_ports'][component]}", f"    default_backend {component}", "", f"backend {component}"]
        for color in COLORS:
            state = "" if color == live_color else " disabled"
            lines.append(f"    server {color} 127.0.0.1:{plan['color_ports'][color][component]}{state}")
        lines.append("")
    return "\n".join(lines)


def proxy_compose(plan):
    return "\n".join(
        [
            f"# Written by Conveyor: the proxy in front of the colours of {plan['app']} ({plan['env']}).",
            "services:",
            "  proxy:",
            f"    image: {json.dumps(plan['proxy_image'])}",
            "    restart: unless-stopped",
            "    network_mode: host",
            '    user: "0:0"',
            f"    command: {json.dumps(HAPROXY_COMMAND)}",
            "    volumes:",
            "      - ./conf:/usr/local/etc/haproxy:ro",
            "      - ./run:/run/haproxy",
            "",
        ]
    )


def admin(paths, command):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(paths.proxy_sock)
        s.sendall((command + "\n").encode())
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode().strip()


def proxy_servers(paths, attempts=1, pause=1.0):
    """{backend: {colour: (operational state, weight)}} as the runtime API shows them; None when
    it does not answer, after `attempts` questions `pause` seconds apart (one timeout, or a worker
    leaving during a reload, is not a proxy that is down). HAProxy always answers this question
    with at least its format version: an empty answer is no answer."""
    for attempt in range(attempts):
        if attempt:
            time.sleep(pause)
        try:
            answer = admin(paths, "show servers state")
        except OSError:
            continue
        if not answer:
            continue
        servers = {}
        for line in answer.splitlines():
            f = line.split()
            # be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight ...
            if len(f) > 7 and f[0] != "#" and f[3] in COLORS:
                servers.setdefault(f[1], {})[f[3]] = (f[5], f[7])
        return servers
    return None


def proxy_routes(paths, components, attempts=1):
    """The colour the proxy routes every component to (None: proxy down, colours mixed, or a
    component that no single colour serves). A server takes requests when its operational state
    is 2 (running; one enabled at run time keeps the "disabled in the configuration" admin bit on
    display) and its weight is not 0 (an aborted canary's colour)."""
    servers = proxy_servers(paths, attempts)
    if servers is None:
        return None
    colors = set()
    for component in components:
        ready = {c for c, (op, weight) in servers.get(component, {}).items() if op == "2" and weight != "0"}
        if len(ready) != 1:
            return None
        colors |= ready
    return colors.pop() if len(colors) == 1 else None


def proxy_env(plan):
    return {"COMPOSE_PROJECT_NAME": plan["project_prefix"] + "-proxy"}


def write_proxy_files(paths, plan, live_color):
    for sub in ("conf", "run"):
        os.makedirs(os.path.join(paths.proxy, sub), mode=0o750, exist_ok=True)
    write_atomic(paths.proxy_cfg, proxy_config(plan, live_color) + "\n")
    write_atomic(os.path.join(paths.proxy, "docker-compose.yml"), proxy_compose(plan))
    write_atomic(os.path.join(paths.proxy, ".env"), f"COMPOSE_PROJECT_NAME={plan['project_prefix']}-proxy\n")


def start_proxy(engine, paths, plan, timeout=30):
    engine.compose_run(paths.proxy, ["up", "-d"], proxy_env(plan))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            admin(paths, "show info")
            return
        except OSError:
            time.sleep(0.2)
    raise Failure(f"the proxy's runtime API ({paths.proxy_sock}) did not answer within {timeout}s", "proxy")


class Handover:
    """A proxy on the new configuration outside compose, for a take-over: compose knows a
    project's containers by its name alone, so the new proxy cannot start under the project name
    while the old release's proxy (same name, another folder) exists. HAProxy binds with
    SO_REUSEPORT, and both run on the host's network as the same user: this one listens beside
    the old proxy while that one stops and goes, then beside the new proxy until it answers. The
    public ports never go unanswered. Its runtime socket is its own (run-handover/)."""

    def __init__(self, engine, paths, plan):
        self.engine, self.plan = engine, plan
        self.name = f"{plan['project_prefix']}-proxy-handover"
        self.paths = SimpleNamespace(proxy_sock=os.path.join(paths.proxy, "run-handover", "admin.sock"))
        self.conf, self.run_dir = os.path.join(paths.proxy, "conf"), os.path.dirname(self.paths.proxy_sock)

    def start(self, color, timeout=15):
        """Starts it and waits until it routes to color; a Failure (and nothing left) if it cannot."""
        os.makedirs(self.run_dir, mode=0o750, exist_ok=True)
        self.remove()
        run([self.engine.cli, "run", "-d", "--name", self.name, "--network", "host", "--user", "0:0",
             "-v", f"{self.conf}:/usr/local/etc/haproxy:ro", "-v", f"{self.run_dir}:/run/haproxy",
             self.plan["proxy_image"], *HAPROXY_COMMAND])
        deadline = time.monotonic() + timeout
        while (routed := proxy_routes(self.paths, self.plan["components"])) != color:
            if time.monotonic() >= deadline:
                self.remove()
                raise Failure(f"the hand-over proxy did not route to {color} within {timeout}s (now: {routed or 'no answer'})", "switch")
            time.sleep(0.2)

    def running(self):
        p = run([self.engine.cli, "inspect", "--format", "{{.State.Running}}", self.name], check=False)
        return p.returncode == 0 and p.stdout.strip() == "true"

    def remove(self, stop_timeout=None):
        if stop_timeout is not None:  # its image's stop signal is HAProxy's soft stop
            run([self.engine.cli, "stop", "-t", str(stop_timeout), self.name], check=False)
        run([self.engine.cli, "rm", "-f", self.name], check=False)


def reload_proxy(engine, paths, plan, components, to_color, timeout=10):
    """Makes the running proxy load its configuration file again (written by the caller), and
    waits until it routes `components` to to_color (None: until it answers). HAProxy runs with
    -W: on SIGUSR2 its master (the container's first process) starts a worker on the new file,
    which takes the listening sockets over, while the old worker ends its connections; the public
    ports keep answering, which a recreated container would not. For a configuration whose shape
    changed (a component added): the runtime API can only change servers that exist."""
    ids = engine.compose_run(paths.proxy, ["ps", "-q"], proxy_env(plan), check=False).stdout.split()
    if not ids:
        raise Failure("the proxy container does not run: there is nothing to reload", "switch")
    run([engine.cli, "kill", "--signal", "USR2", *ids])
    deadline = time.monotonic() + timeout
    while True:
        if to_color is None and proxy_servers(paths) is not None:
            return
        routed = proxy_routes(paths, components)
        if to_color is not None and routed == to_color:
            return
        if time.monotonic() >= deadline:
            raise Failure(f"the proxy did not route {', '.join(components)} to {to_color or 'any colour'} within {timeout}s "
                          f"of its reload (now: {routed or 'no single colour'})", "switch")
        time.sleep(0.2)


def new_switch(paths):
    """Names a switch (last-switch): a drain stop acts only if no later switch happened."""
    switch_id = f"{os.getpid()}-{time.time_ns()}"
    write_atomic(paths.last_switch, switch_id + "\n")
    return switch_id


def switch_proxy(paths, plan, to_color):
    """Routes every component to to_color (runtime API: no reload, open connections stay),
    writes the configuration to match, and checks where the proxy routes now."""
    from_color = "green" if to_color == "blue" else "blue"
    # One line of commands, run back to back by HAProxy: no request lands between the new colour
    # becoming ready and the old one leaving (over separate connections, some did, and went back).
    # The colour's weight goes back to 100 first: an aborted canary left it at 0, and ready at 0
    # with the other colour in maintenance, HAProxy answers 503.
    commands = []
    for component in plan["components"]:
        commands += [f"set weight {component}/{to_color} 100", f"set server {component}/{to_color} state ready",
                     f"set server {component}/{from_color} state maint"]
    answer = admin(paths, "; ".join(commands))
    if answer:
        raise Failure(f"proxy refused '{'; '.join(commands)}': {answer}", "switch")
    write_atomic(paths.proxy_cfg, proxy_config(plan, to_color) + "\n")
    routed = proxy_routes(paths, plan["components"])
    if routed != to_color:
        raise Failure(f"the proxy routes to {routed or 'no single colour'} after the switch to {to_color}", "switch")
    return new_switch(paths)


def set_weights(paths, plan, new_color, new_weight, old_color, old_weight):
    """Both colours take requests in proportion to their weights (0: none)."""
    for component in plan["components"]:
        for color, weight in ((old_color, old_weight), (new_color, new_weight)):
            for command in (f"set weight {component}/{color} {weight}", f"set server {component}/{color} state ready"):
                answer = admin(paths, command)
                if answer:
                    raise Failure(f"proxy refused '{command}': {answer}", "canary")
