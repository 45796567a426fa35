"""`mqchat user ...` against a data dir: tokens, validation, bulk import."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.support.server import mqchat


def test_user_add_prints_only_the_token_and_stores_only_its_hash(tmp_path: Path) -> None:
    result = mqchat(
        "user", "add", "alice", "--phone", "+4915112345678", "--name", "Alice", data_dir=tmp_path
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    token = lines[0]
    assert len(token) >= 43
    stored = b"".join(path.read_bytes() for path in tmp_path.iterdir() if path.is_file())
    assert token.encode() not in stored


def test_user_add_refuses_bad_and_duplicate_users(tmp_path: Path) -> None:
    assert (
        mqchat("user", "add", "alice", "--phone", "+4915112345678", data_dir=tmp_path).returncode
        == 0
    )
    for args in (
        ["Alice", "--phone", "+4915112345679"],
        ["bob", "--phone", "0151"],
        ["alice", "--phone", "+4915112345670"],
        ["carol", "--phone", "+4915112345678"],
    ):
        result = mqchat("user", "add", *args, data_dir=tmp_path)
        assert result.returncode != 0, args
        assert result.stdout == ""
        assert result.stderr.startswith("error:"), result.stderr


def test_import_creates_all_users_or_none(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(
        "id,phone,name\nalice,+4915100000001,Alice\nbob,+4915100000002,\ncarol,+4915100000003\n"
    )
    result = mqchat("user", "import", str(good), data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    rows = [line.split(",") for line in result.stdout.splitlines()]
    assert [row[0] for row in rows] == ["alice", "bob", "carol"]
    assert all(len(row[1]) >= 43 for row in rows)

    bad = tmp_path / "bad.csv"
    bad.write_text("dave,+4915100000004,Dave\nerin,not-a-phone,Erin\n")
    result = mqchat("user", "import", str(bad), data_dir=tmp_path / "data")
    assert result.returncode != 0
    assert "line 2" in result.stderr
    with sqlite3.connect(tmp_path / "data" / "mqchat.db") as db:
        assert db.execute("SELECT count(*) FROM users").fetchone() == (3,)
