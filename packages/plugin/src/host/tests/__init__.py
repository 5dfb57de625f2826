"""Unit tests of the host helper, a file per module (python3 -m unittest discover -s
packages/plugin/src/host/tests -t packages/plugin/src/host). Standard library only, like the helper:
no engine, no HAProxy, no network; fakes stand in where the helper talks to them."""
