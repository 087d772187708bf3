"""``veil users add NAME``: the people who may sign in to the review pages of ``veil serve``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from veil.errors import VeilError

users_app = typer.Typer(help="Manage who may sign in to the review pages (/ui) of veil serve.", no_args_is_help=True)

DataDir = Annotated[
    Path,
    typer.Option(envvar="VEIL_DATA_DIR", help="The service's data directory (its database is DATA_DIR/veil.db)."),
]
DatabaseUrl = Annotated[
    str | None, typer.Option(envvar="VEIL_DATABASE_URL", help="The service's database URL, if not in DATA_DIR.")
]
Ask = Annotated[bool, typer.Option("--ask", help="Ask for the password instead of generating one.")]


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The user's name (letters, digits, '.', '-', '_').")],
    data_dir: DataDir = Path("veil-data"),
    database_url: DatabaseUrl = None,
    ask: Ask = False,
) -> None:
    """Add a user (or set a new password): a generated password is printed once, or --ask asks for one."""
    try:
        from veil.jobs.review import ReviewStore
        from veil.service import users
    except ModuleNotFoundError as missing:
        print(f"veil: error: users need the serve extra ({missing}): pip install 'veil[serve]'", file=sys.stderr)
        raise typer.Exit(1) from None
    url = database_url or f"sqlite:///{data_dir.resolve() / 'veil.db'}"
    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True) if ask else users.new_password()
    try:
        store = ReviewStore(url)
        created = users.set_user(store, name, password)
        store.close()
    except VeilError as error:
        print(f"veil: error: {error}", file=sys.stderr)
        raise typer.Exit(2) from None
    print(f"veil: user {name!r} {'added' if created else 'has a new password'}", file=sys.stderr)
    if not ask:
        print(password)
