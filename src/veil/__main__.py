"""``python -m veil`` is the ``veil`` command."""

from veil.cli.app import main

main()
