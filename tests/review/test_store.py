"""The review tables (veil.jobs.review) on a real SQLite file and a real PostgreSQL server, password hashing, the
first user, and ``veil users add``."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.threads import run_together
from veil.cli.app import app
from veil.errors import ConfigError
from veil.jobs import open_job_store
from veil.jobs.review import INTERRUPTED, RENDER_STALE_SECONDS, ReviewStore
from veil.service import users
from veil.service.credentials import read_stored

# A raw connection of a test never waits long for a lock, nor runs a statement for long.
PG_TIMEOUTS = "-c lock_timeout=5s -c statement_timeout=10s"


@pytest.fixture
def store(database_url: str) -> Iterator[ReviewStore]:
    opened = ReviewStore(database_url)
    yield opened
    opened.close()


@pytest.fixture
def second(database_url: str, store: ReviewStore) -> Iterator[ReviewStore]:
    """Another store on the same database: what another replica (or process) has."""
    opened = ReviewStore(database_url)
    yield opened
    opened.close()


def refuses(url: str, statement: str) -> str:
    """What the database answers when a raw connection (not veil's) runs ``statement``; "" if it ran."""
    if url.startswith("sqlite:"):
        with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=5) as db:
            try:
                db.execute(statement)
            except sqlite3.DatabaseError as error:
                return str(error)
        return ""
    import psycopg

    with psycopg.connect(url, autocommit=True, options=PG_TIMEOUTS, connect_timeout=5) as db:
        try:
            db.execute(statement)  # type: ignore[arg-type]  # a literal of this test
        except psycopg.errors.RaiseException as error:
            return str(error)
    return ""


def test_the_database_itself_keeps_the_audit_log_append_only(store: ReviewStore, database_url: str) -> None:
    store.log("job1", "ada", "approved", {"version": 1})
    store.log("job2", "bob", "approved", {"version": 1})
    assert [(e.user, e.event, e.details) for e in store.events("job1")] == [("ada", "approved", {"version": 1})]
    statements = ["UPDATE review_audit SET user_name = 'mallory'", "DELETE FROM review_audit"]
    if store.is_postgresql:
        statements.append("TRUNCATE review_audit")
    for statement in statements:
        assert "append-only" in refuses(database_url, statement), statement
    assert len(store.events("job1")) == 1 and len(store.events("job2")) == 1


def test_created_and_processed_are_logged_once_per_job(store: ReviewStore) -> None:
    assert store.log("job1", "ada", "created", {"n": 1})
    assert not store.log("job1", "veil", "created", {"n": 2})
    assert store.log("job2", "veil", "created", {"n": 3})  # another job's
    assert store.log("job1", "veil", "processed", {})
    assert not store.log("job1", "veil", "processed", {"again": True})
    assert store.log("job1", "ada", "approved", {}) and store.log("job1", "ada", "approved", {})  # any number
    assert [(e.user, e.event, e.details) for e in store.events("job1")] == [
        ("ada", "created", {"n": 1}),
        ("veil", "processed", {}),
        ("ada", "approved", {}),
        ("ada", "approved", {}),
    ]


def test_corrections_survive_reopening_and_undo_marks_them(store: ReviewStore, database_url: str) -> None:
    first = store.add_correction("job1", "ada", {"kind": "delete_track", "track_id": 3})
    other = store.add_correction("job2", "ada", {"kind": "style", "style": "blur"})
    assert other.id > first.id
    assert store.undo_correction("job2", first.id, "ada") is False  # another job's correction is not reachable
    assert store.undo_correction("job1", first.id, "bob") is True
    assert store.undo_correction("job1", first.id, "bob") is False
    again = ReviewStore(database_url)
    try:
        assert again.corrections("job1") == []
        (undone,) = again.corrections("job1", include_undone=True)
        assert (undone.undone_by, undone.body) == ("bob", {"kind": "delete_track", "track_id": 3})
    finally:
        again.close()


def test_two_stores_on_one_database_see_each_others_changes(store: ReviewStore, second: ReviewStore) -> None:
    """What two replicas on one database share: sessions, corrections, undo, renders and the audit log."""
    store.add_session("a" * 64, "ada", "csrf", lifetime=3600)
    assert second.session("a" * 64) == store.session("a" * 64) is not None
    second.end_session("a" * 64)
    assert store.session("a" * 64) is None
    added = store.add_correction("job1", "ada", {"kind": "delete_track", "track_id": 1})
    assert second.corrections("job1") == [added]
    assert second.undo_correction("job1", added.id, "bob")
    assert store.corrections("job1") == [] and not store.undo_correction("job1", added.id, "ada")
    assert store.start_render("job1", "ada") == 1 and second.start_render("job1", "bob") is None
    second.log("job1", "bob", "approved", {"version": 1})
    assert [(e.user, e.event) for e in store.events("job1")] == [("bob", "approved")]


def test_stores_opened_at_once_on_an_empty_database_do_not_clash(database_url: str) -> None:
    """Replicas starting together: each opens the job store and the review tables; the schemas are made once."""
    opened = run_together([lambda: (open_job_store(database_url), ReviewStore(database_url)) for _ in range(4)])
    try:
        jobs, reviews = opened[0]
        job, _ = jobs.create(source_bucket="s", source_key="a.mov", source_etag="e", output_bucket="o")
        reviews.log(job.job_id, "ada", "approved", {})
        assert all([e.event for e in other.events(job.job_id)] == ["approved"] for _, other in opened)
    finally:
        for jobs, reviews in opened:
            jobs.close()
            reviews.close()


def test_one_first_user_when_replicas_start_together(database_url: str, tmp_path: Path) -> None:
    """Four replicas (each its own data folder) find no user at once: one creates admin, only it keeps a password."""
    stores = [ReviewStore(database_url) for _ in range(4)]
    folders = [tmp_path / f"replica-{index}" for index in range(4)]
    try:
        created = run_together(
            [lambda s=s, f=f: users.ensure_first_user(s, f) for s, f in zip(stores, folders, strict=True)]
        )
        assert sorted(created) == [False, False, False, True]
        (kept,) = [folder / "credentials.json" for folder in folders if (folder / "credentials.json").exists()]
        assert kept.parent == folders[created.index(True)]
        stored = read_stored(kept)
        assert stores[0].user_count() == 1
        assert users.verify(stores[1], "admin", stored["review_password"])
        assert not users.ensure_first_user(stores[2], folders[2])  # a later start finds the user
    finally:
        for opened in stores:
            opened.close()


def test_one_render_at_a_time_and_an_untouched_one_counts_as_interrupted(
    store: ReviewStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert store.start_render("job1", "ada") == 1
    assert store.start_render("job1", "bob") is None
    clock = time.time()
    monkeypatch.setattr(time, "time", lambda: clock + RENDER_STALE_SECONDS / 2)
    store.touch_render("job1", 1)  # still running: another replica's start changes nothing
    monkeypatch.setattr(time, "time", lambda: clock + RENDER_STALE_SECONDS * 1.2)
    assert store.start_render("job1", "bob") is None
    assert store.render("job1").state == "rendering"  # type: ignore[union-attr]
    monkeypatch.setattr(time, "time", lambda: clock + RENDER_STALE_SECONDS * 1.6)  # its replica stopped touching it
    render = store.render("job1")
    assert render is not None and render.state == "failed" and render.message == INTERRUPTED
    assert store.start_render("job1", "ada") == 2
    store.finish_render("job1", 2)
    assert store.render("job1").state == "done"  # type: ignore[union-attr]


def test_passwords_are_hashed_and_checked(store: ReviewStore) -> None:
    assert users.set_user(store, "ada", "correct horse battery") is True
    assert (store.password_hash("ada") or "").startswith("$argon2id$")
    assert users.verify(store, "ada", "correct horse battery")
    assert not users.verify(store, "ada", "wrong password!")
    assert not users.verify(store, "nobody", "correct horse battery")
    assert users.set_user(store, "ada", "another long password") is False
    assert users.verify(store, "ada", "another long password") and store.user_count() == 1
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


def test_veil_users_add_on_the_service_database(database_url: str) -> None:
    """``--database-url`` (or VEIL_DATABASE_URL): the user is where the service reads it, on either backend."""
    done = CliRunner().invoke(app, ["users", "add", "bob", "--database-url", database_url])
    assert done.exit_code == 0, done.output
    store = ReviewStore(database_url)
    try:
        assert users.verify(store, "bob", done.stdout.strip())
    finally:
        store.close()
