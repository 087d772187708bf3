"""The review tables (veil.jobs.review), password hashing, and ``veil users add``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from veil.cli.app import app
from veil.errors import ConfigError
from veil.jobs.review import ReviewStore
from veil.service import users


@pytest.fixture
def store(tmp_path: Path) -> ReviewStore:
    return ReviewStore(f"sqlite:///{tmp_path / 'veil.db'}")


def test_the_audit_log_is_append_only(store: ReviewStore, tmp_path: Path) -> None:
    store.log("job1", "ada", "approved", {"version": 1})
    store.log("job2", "bob", "approved", {"version": 1})
    assert [(e.user, e.event, e.details) for e in store.events("job1")] == [("ada", "approved", {"version": 1})]
    db = sqlite3.connect(tmp_path / "veil.db")
    for statement in ("UPDATE review_audit SET user_name = 'mallory'", "DELETE FROM review_audit"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute(statement)
    assert len(store.events("job1")) == 1


def test_corrections_survive_reopening_and_undo_marks_them(store: ReviewStore, tmp_path: Path) -> None:
    first = store.add_correction("job1", "ada", {"kind": "delete_track", "track_id": 3})
    store.add_correction("job2", "ada", {"kind": "style", "style": "blur"})
    assert store.undo_correction("job2", first.id, "ada") is False  # another job's correction is not reachable
    assert store.undo_correction("job1", first.id, "bob") is True
    assert store.undo_correction("job1", first.id, "bob") is False
    again = ReviewStore(store.url)
    assert again.corrections("job1") == []
    (undone,) = again.corrections("job1", include_undone=True)
    assert (undone.undone_by, undone.body) == ("bob", {"kind": "delete_track", "track_id": 3})


def test_one_render_at_a_time_and_a_restart_fails_the_interrupted_one(store: ReviewStore) -> None:
    assert store.start_render("job1", "ada") == 1
    assert store.start_render("job1", "bob") is None
    store.interrupt_renders()
    render = store.render("job1")
    assert render is not None and render.state == "failed" and "restart" in (render.message or "")
    assert store.start_render("job1", "ada") == 2
    store.finish_render("job1", 2)
    assert store.render("job1").state == "done"  # type: ignore[union-attr]


def test_passwords_are_hashed_and_checked(store: ReviewStore) -> None:
    assert users.set_user(store, "ada", "correct horse battery") is True
    assert (store.password_hash("ada") or "").startswith("$argon2id$")
    assert users.verify(store, "ada", "correct horse battery")
    assert not users.verify(store, "ada", "wrong password!")
    assert not users.verify(store, "nobody", "correct horse battery")
    with pytest.raises(ConfigError, match="at least 10"):
        users.set_user(store, "bob", "short")
    with pytest.raises(ConfigError, match="user name"):
        users.set_user(store, "bad name!", "long enough password")


def test_sessions_expire(store: ReviewStore) -> None:
    store.add_session("a" * 64, "ada", "csrf", lifetime=3600)
    store.add_session("b" * 64, "ada", "csrf", lifetime=-1)
    assert store.session("a" * 64) is not None and store.session("b" * 64) is None
    store.end_session("a" * 64)
    assert store.session("a" * 64) is None


def test_veil_users_add_prints_a_generated_password(tmp_path: Path) -> None:
    runner = CliRunner()
    command = ["users", "add", "ada", "--data-dir", str(tmp_path)]
    done = runner.invoke(app, command)
    assert done.exit_code == 0, done.output
    password = done.stdout.strip()
    assert len(password) >= 16 and "added" in done.stderr
    assert users.verify(ReviewStore(f"sqlite:///{tmp_path / 'veil.db'}"), "ada", password)
    asked = runner.invoke(app, [*command, "--ask"], input="another password\nanother password\n")
    assert asked.exit_code == 0, asked.output
    assert "another password" not in asked.stdout and "new password" in asked.stderr
    assert users.verify(ReviewStore(f"sqlite:///{tmp_path / 'veil.db'}"), "ada", "another password")
    refused = runner.invoke(app, ["users", "add", "bad name", "--data-dir", str(tmp_path)])
    assert refused.exit_code == 2 and "user name" in refused.stderr
