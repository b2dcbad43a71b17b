"""The commit a bench run records: marked when the code differs from it, not when the docs do."""

import subprocess

from loadtest.measuring.envinfo import code_version


def git(root, *args):
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_local_changes_are_the_codes_not_the_docs(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "results.md").write_text("old run\n")
    (tmp_path / "app.py").write_text("x = 1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "one")
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "--short=12", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert code_version(tmp_path) == head
    (tmp_path / "docs" / "results.md").write_text("a run being replaced\n")
    (tmp_path / "untracked.py").write_text("")
    assert code_version(tmp_path) == head
    (tmp_path / "app.py").write_text("x = 2\n")
    assert code_version(tmp_path) == f"{head} with local changes"


def test_outside_a_checkout_there_is_no_version(tmp_path):
    assert code_version(tmp_path) is None
