"""The proxy (blue-green): HAProxy on the host network; its configuration on disk always routes
where the runtime does, so a restarted proxy serves the same colour. Its files, its runtime API
(admin.sock), where it routes now, the switch, and the canary's weights."""
import json
import os
import socket
import time

from .common import COLORS, Failure, write_atomic


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
            '    command: ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]',
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


def proxy_routes(paths, components):
    """The colour the proxy routes every component to (None: proxy down or colours mixed)."""
    try:
        answer = admin(paths, "show servers state")
    except OSError:
        return None
    ready = {}
    for line in answer.splitlines():
        f = line.split()
        # be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...; an operational
        # state of 2 (running) is what takes traffic (a server enabled at run time keeps the
        # "disabled in the configuration" admin bit on display).
        if len(f) > 6 and f[1] in components and f[3] in COLORS and f[5] == "2":
            ready.setdefault(f[1], set()).add(f[3])
    colors = {c for comp in components for c in ready.get(comp, set())}
    if len(colors) != 1 or any(len(ready.get(comp, ())) != 1 for comp in components):
        return None
    return colors.pop()


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
    switch_id = f"{os.getpid()}-{time.time_ns()}"
    write_atomic(paths.last_switch, switch_id + "\n")
    return switch_id


def set_weights(paths, plan, new_color, new_weight, old_color, old_weight):
    """Both colours take requests in proportion to their weights (0: none)."""
    for component in plan["components"]:
        for color, weight in ((old_color, old_weight), (new_color, new_weight)):
            for command in (f"set weight {component}/{color} {weight}", f"set server {component}/{color} state ready"):
                answer = admin(paths, command)
                if answer:
                    raise Failure(f"proxy refused '{command}': {answer}", "canary")
