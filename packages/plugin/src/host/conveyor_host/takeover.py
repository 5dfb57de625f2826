"""Compose project names are global on an engine: a project of this app and environment that runs
from another folder (an abandoned release whose folder is gone, or an old deploy_path) is found
here before anything changes, with the containers a take-over may remove."""
import os

from .common import COLORS, Failure
from .engine import run


class Foreign:
    """A compose project of this app and environment whose containers run from a folder that is
    not this release's, or whose files are gone (a deploy_path emptied under running containers).
    Its containers are the ones found now: what the take-over stops and removes, nothing else."""

    def __init__(self, engine, project, folder):
        self.project = project
        self.folder = folder
        # The release's app folder: a colour's or the proxy's folder sits in it, recreate is it.
        self.app_path = os.path.dirname(folder) if os.path.basename(folder) in COLORS + ("proxy",) else folder
        self.gone = not os.path.exists(os.path.join(folder, "docker-compose.yml"))
        self.containers = project_containers(engine, project, folder)

    def ids(self, running_only=False):
        return [cid for cid, running, _ in self.containers if running or not running_only]


def project_containers(engine, project, folder):
    """[(id, running, created)] of a compose project's containers that run from folder (found by
    their labels, whether or not the folder exists)."""
    p = run([engine.cli, "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={project}"], check=False)
    found = []
    for cid in p.stdout.split():
        q = run([engine.cli, "inspect", "--format",
                 '{{.State.Running}}|{{.Created}}|{{index .Config.Labels "com.docker.compose.project.working_dir"}}', cid], check=False)
        parts = q.stdout.strip().split("|")
        if q.returncode == 0 and len(parts) == 3 and parts[2] == folder:
            found.append((cid, parts[0] == "true", parts[1]))
    return found


def remove_containers(engine, ids):
    if ids:
        run([engine.cli, "rm", "-f", *ids], check=False)


def check_projects(engine, plan, paths):
    """Compose project names are global on an engine: a project of this app and environment that
    runs from another folder is named here before anything changes. Its folder gone: an abandoned
    release, which `--replaceAbandoned` retires. Its folder there: a live clash (the same app
    deployed twice to this host), unless it is the old deploy_path `--moveFrom` names.
    Returns the foreign projects this release takes over."""
    app, env, prefix = plan["app"], plan["env"], plan["project_prefix"]
    mine = {prefix: paths.app, f"{prefix}-proxy": paths.proxy}
    mine.update({f"{prefix}-{c}": paths.color_dir(c) for c in COLORS})
    take = plan.get("take_over") or {}
    command = f"nx run {app}:deploy --configuration={env}"
    foreign = []
    for project, folder in mine.items():
        p = run([engine.cli, "ps", "-a", "--filter", f"label=com.docker.compose.project={project}",
                 "--format", '{{.Label "com.docker.compose.project.working_dir"}}'], check=False)
        for other in sorted(set(p.stdout.split())):
            if os.path.realpath(other) == os.path.realpath(folder) and os.path.exists(os.path.join(folder, "docker-compose.yml")):
                continue
            f = Foreign(engine, project, other)
            if take.get("kind") == "move" and os.path.realpath(f.app_path) == os.path.realpath(take.get("from", "")):
                foreign.append(f)
            elif f.gone and take.get("kind") == "abandoned":
                foreign.append(f)
            elif f.gone:
                raise Failure(
                    f"compose project {project} runs from {other}, but its folder is gone: an abandoned release of {app} "
                    f"({env}), deployed from a folder that no longer exists. Retire it with: {command} --replaceAbandoned "
                    "(the new release starts beside it and takes its ports over once it has passed its health gate; "
                    "only that app and environment's containers are removed).",
                    "lock",
                )
            else:
                raise Failure(
                    f"compose project {project} already runs from {other}, not {folder}: {app} of {env} is deployed to "
                    "this host from another folder. Use one deploy_path per app and environment on a host. If you moved "
                    f"deploy_path, move the release: {command} --moveFrom={os.path.dirname(f.app_path)}",
                    "lock",
                )
    if take.get("kind") and not foreign:
        what = f"{take['from']} runs no release of {app} ({env})" if take.get("kind") == "move" else \
            f"no abandoned release of {app} ({env}) runs on this host"
        raise Failure(f"{what}: nothing to take over; deploy without --{'moveFrom' if take.get('kind') == 'move' else 'replaceAbandoned'}", "lock")
    return foreign
