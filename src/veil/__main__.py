"""``python -m veil`` is the ``veil`` command."""

from veil.cli.app import main

if __name__ == "__main__":  # worker processes (spawned) import this module too: they must not run the command
    main()
