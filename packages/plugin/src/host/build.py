#!/usr/bin/env python3
"""Builds the host helper's zipapp, conveyor-host.pyz: the package conveyor_host and an entry
__main__.py in one file, which the deploy's playbook copies to each host and python3 runs there
(by its first line, /usr/bin/env python3, or as `python3 conveyor-host.pyz`).

  python3 packages/plugin/src/host/build.py [OUTPUT]   default: conveyor-host.pyz beside this file

Run by `nx run plugin:build` (the target build-host-helper; the build's assets copy the archive to
dist/packages/plugin/src/host/) and by the plugin's jest global setup (its specs run the archive).
Deterministic: the same sources give the same bytes, so a helper on a host can be told from
another by its sha256 (entries sorted, one timestamp and mode for all, stored uncompressed so no
zlib version changes a byte). The archive is written beside the old one, then renamed over it: a
helper starting meanwhile reads the old or the new archive, never a part.
"""
import hashlib
import io
import os
import sys
import tempfile
import zipapp
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = "conveyor_host"
OUTPUT = os.path.join(HERE, "conveyor-host.pyz")
INTERPRETER = "/usr/bin/env python3"
# The earliest time a zip entry can hold: no build time, no file time in the archive.
TIMESTAMP = (1980, 1, 1, 0, 0, 0)
MAIN = """\
# conveyor-host.pyz: the host helper (the package conveyor_host) as one file.
import sys

from conveyor_host.cli import main

sys.exit(main(sys.argv))
"""


def sources():
    """(name in the archive, path) of the package's modules, sorted; caches and other files stay out."""
    files = []
    for folder, dirs, names in os.walk(os.path.join(HERE, PACKAGE)):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                files.append((os.path.relpath(path, HERE).replace(os.sep, "/"), path))
    return sorted(files)


def archive():
    """The zip of the package and its entry, without the interpreter line (zipapp adds it)."""
    entries = [("__main__.py", MAIN.encode())]
    for name, path in sources():
        with open(path, "rb") as f:
            entries.append((name, f.read()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        for name, data in sorted(entries):
            info = zipfile.ZipInfo(name, TIMESTAMP)
            info.create_system = 3  # unix, wherever it is built: the mode below is read as such
            info.external_attr = 0o100644 << 16
            z.writestr(info, data)
    return buffer.getvalue()


def build(output=OUTPUT):
    """Writes the zipapp to output (mode 0755) unless it holds these bytes already; returns its sha256."""
    buffer = io.BytesIO()
    zipapp.create_archive(io.BytesIO(archive()), buffer, interpreter=INTERPRETER)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    try:
        with open(output, "rb") as f:
            if f.read() == data and os.stat(output).st_mode & 0o777 == 0o755:
                return digest
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=".conveyor-host-", suffix=".tmp", dir=os.path.dirname(os.path.abspath(output)))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o755)
        os.replace(tmp, output)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return digest


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else OUTPUT
    print(f"{os.path.relpath(target)} sha256:{build(target)}")
