"""Conveyor's host helper as a package; shipped to the host as one file, the zipapp
conveyor-host.pyz (built by ../build.py), run there as `conveyor-host.pyz COMMAND ...` (the
commands, exit codes and output: conveyor_host.cli).

One module a concern, none importing a module that imports it:
  common    failures, progress lines, atomic files, .env files, local HTTP, running itself again
  state     where an app's files are (Paths), the release state
  history   the history (history.jsonl)
  lock      the lock, `hold`, `break-lock`
  engine    the engine and compose: processes, registry login, pulls, ports
  takeover  releases of the app that run from another folder
  proxy     HAProxy: config, runtime API, routes, switch, weights
  canary    the canary's counters and their judgement
  drain     stopping a colour after its drain time
  release   a plan carried out: blue-green, canary, recreate, take-over
  rollback  fast rollback (`switch-back`)
  status    `status`
  runs      a release detached from the caller's connection, `follow`
  cli       the command line

The names below are what code outside the package uses (the helper's spec imports the package
as it imported the single file).
"""
from .cli import main
from .release import host_prefix
from .state import Paths

__all__ = ["Paths", "host_prefix", "main"]
