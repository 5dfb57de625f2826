"""The container engine and compose: running them, the registry login of one run, pulling a
release by digest and checking what the engine then holds and runs, the ports a start needs."""
import base64
import json
import os
import shutil
import subprocess
import tempfile

from .common import Failure, out, port_in_use, write_json


def run(argv, cwd=None, env=None, check=True, timeout=600):
    merged = dict(os.environ)
    merged.update(env or {})
    p = subprocess.run(argv, cwd=cwd, env=merged, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise Failure(f"{' '.join(argv[:3])} failed (exit {p.returncode}): {(p.stderr or p.stdout).strip()[-600:]}")
    return p


class Engine:
    def __init__(self, plan):
        self.cli = plan["engine_command"]
        self.compose = plan["compose_command"].split()

    def compose_run(self, folder, args, env, check=True, timeout=600):
        return run(self.compose + args, cwd=folder, env=env, check=check, timeout=timeout)

    def running_images(self, folder, env):
        """Image ids of the running containers of the compose project in folder."""
        ids = self.compose_run(folder, ["ps", "-q"], env, check=False).stdout.split()
        images = {}
        for cid in ids:
            p = run([self.cli, "inspect", "--format", "{{.State.Running}} {{.Image}} {{index .Config.Labels \"com.docker.compose.service\"}}", cid], check=False)
            parts = p.stdout.split()
            if p.returncode == 0 and len(parts) == 3 and parts[0] == "true":
                images[parts[2]] = parts[1]
        return images

    def image_id(self, ref):
        p = run([self.cli, "image", "inspect", "--format", "{{.Id}}", ref], check=False)
        return p.stdout.strip() if p.returncode == 0 else ""

    def repo_digests(self, ref):
        p = run([self.cli, "image", "inspect", "--format", "{{json .RepoDigests}}", ref], check=False)
        try:
            return json.loads(p.stdout) or [] if p.returncode == 0 else []
        except ValueError:
            return []


class RegistryLogin:
    """Pull credentials for this run only: a private DOCKER_CONFIG removed afterwards (nothing
    is kept in ~/.docker on the host). The folder is made when a pull first needs it (env), so a
    run that pulls nothing (a held lock, a fault before the pull) writes no credentials at all."""

    def __init__(self, registry, auth):
        self.dir = None
        self.config = None
        if auth and auth.get("user") and auth.get("password"):
            token = base64.b64encode(f"{auth['user']}:{auth['password']}".encode()).decode()
            self.config = {"auths": {registry: {"auth": token}}}

    def env(self):
        if self.config and not self.dir:
            self.dir = tempfile.mkdtemp(prefix="conveyor-pull-")  # named first: close() removes it even half written
            os.chmod(self.dir, 0o700)
            write_json(os.path.join(self.dir, "config.json"), self.config, 0o600)
        return {"DOCKER_CONFIG": self.dir} if self.dir else {}

    def close(self):
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


def pull_release(engine, plan, release, login):
    """Pulls every image of the release by digest and tags it locally with the release tag, then
    checks the result itself (an engine or compose can report a pull that did not happen).
    Returns {component: image id}."""
    ids = {}
    for component, image in sorted(release["images"].items()):
        by_digest = f"{image['repository']}@{image['digest']}"
        tagged = f"{image['repository']}:{release['tag']}"
        have = engine.image_id(by_digest)
        if not have:
            p = run([engine.cli, "pull", by_digest], env=login.env(), check=False, timeout=900)
            have = engine.image_id(by_digest)
            if not have:
                why = (p.stderr or p.stdout).strip().splitlines()
                raise Failure(
                    f"image {by_digest} is not on the host after the pull"
                    + (f": {why[-1][:300]}" if why else " (the engine reported no error)"),
                    "pull",
                )
        if not any(d.endswith("@" + image["digest"]) for d in engine.repo_digests(have)):
            raise Failure(f"image {by_digest}: the engine holds no image with that digest", "pull")
        run([engine.cli, "tag", have, tagged])
        if engine.image_id(tagged) != have:
            raise Failure(f"image {tagged} does not point at {image['digest']} after tagging it", "pull")
        ids[component] = have
        out("pulled", component=component, image=by_digest)
    return ids


def ensure_image(engine, ref, login):
    if engine.image_id(ref):
        return
    run([engine.cli, "pull", ref], env=login.env(), check=False, timeout=900)
    if not engine.image_id(ref):
        raise Failure(f"image {ref} is not on the host and could not be pulled", "pull")


def check_image_ids(engine, folder, env, ids):
    running = engine.running_images(folder, env)
    for component, want in ids.items():
        got = running.get(component)
        if got is None:
            raise Failure(f"{component} is not running after the start", "start")
        if got.replace("sha256:", "") != want.replace("sha256:", ""):
            raise Failure(f"{component} runs image {got[:19]}, not the release's {want[:19]}", "start")


def container_logs(engine, folder, env):
    p = engine.compose_run(folder, ["logs", "--no-color", "--tail", "60"], env, check=False, timeout=60)
    return (p.stdout + p.stderr)[-8000:]


def check_ports_free(engine, ports, folder, env, what):
    """Before a start: ports must be free, unless this folder's own containers hold them."""
    if os.path.exists(os.path.join(folder, "docker-compose.yml")) and engine.running_images(folder, env):
        return
    for component, port in ports.items():
        if port and port_in_use(port):
            raise Failure(f"port {port} ({what} {component}) is already in use on the host by something this release does not own; choose other ports", "start")
