"""``python -m veil.service`` is ``veil serve``."""

import sys

from veil.cli.app import main

if __name__ == "__main__":
    sys.argv.insert(1, "serve")
    main()
