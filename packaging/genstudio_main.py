"""The desktop bundle's entry point: the ``genstudio`` command, window and all."""

import sys

from genstudio.cli import main

if __name__ == "__main__":
    sys.exit(main())
