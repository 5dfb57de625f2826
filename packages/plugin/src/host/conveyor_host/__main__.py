"""`python3 -m conveyor_host COMMAND ...`, and `python3 path/to/conveyor_host COMMAND ...`: how the
sources run themselves again (common.self_command) when they do not run from the zipapp."""
import os
import sys

if __package__:
    from .cli import main
else:  # run as a folder: the package is imported from the folder above it
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from conveyor_host.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv))
