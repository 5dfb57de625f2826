"""The app's history on the host (history.jsonl): one JSON object a line, appended with O_APPEND so
concurrent writers never mix their lines; failures, rollbacks, repairs and lock breaks included."""
import json
import os

from .common import now
from .state import Paths


def append_history(paths, entry):
    """One JSON object per line: failures, rollbacks, repairs and lock breaks included."""
    entry = {"at": now(), **entry}
    line = json.dumps(entry, sort_keys=True) + "\n"
    fd = os.open(paths.history, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_history(paths, limit=None):
    entries = []
    try:
        with open(paths.history) as f:
            for line in f:
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    continue
    except OSError:
        pass
    return entries[-limit:] if limit else entries


def history(app_path, limit):
    for entry in read_history(Paths(app_path), limit):
        print(json.dumps(entry))
    return 0
