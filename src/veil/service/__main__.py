"""``python -m veil.service`` is ``veil serve``."""

import typer

from veil.service.cli import serve

typer.run(serve)
