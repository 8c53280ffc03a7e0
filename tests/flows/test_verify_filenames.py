"""flows/verify_filenames.py: snake_case stems pass, every bad name is reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import ROOT, load_flow_module

module = load_flow_module("verify_filenames")
verify_filenames = module.verify_filenames


def test_passes_on_the_repository_content_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # as on a worker: the repository root is the working directory

    checked = verify_filenames()

    assert "release_notes.txt" in checked
    assert "team_roster.csv" in checked
    assert "templates/welcome_email.md" in checked  # recursive


def test_fails_listing_every_bad_name_and_no_good_one(tmp_path: Path) -> None:
    for name in ["BadName.txt", "also-bad.md", "good_name.txt", ".gitkeep"]:
        (tmp_path / name).write_text("x\n")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "Nested Bad.txt").write_text("x\n")

    state = verify_filenames(str(tmp_path), return_state=True)

    assert state.is_failed()
    assert "BadName.txt" in state.message
    assert "also-bad.md" in state.message
    assert "nested/Nested Bad.txt" in state.message
    assert "good_name" not in state.message
    assert ".gitkeep" not in state.message


def test_skips_dotfiles_and_dot_directories(tmp_path: Path) -> None:
    (tmp_path / ".gitkeep").write_text("")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / "ok_2.tar.gz").write_bytes(b"")

    assert verify_filenames(str(tmp_path)) == ["ok_2.tar.gz"]


def test_a_missing_directory_fails(tmp_path: Path) -> None:
    state = verify_filenames(str(tmp_path / "nope"), return_state=True)

    assert state.is_failed()
    assert "is not a directory" in state.message


@pytest.mark.parametrize(
    "name",
    ["a", "release_notes.txt", "team_roster.csv", "v2_notes.md", "data.tar.gz", "photo.JPG"],
)
def test_snake_case_names(name: str) -> None:
    assert module.is_snake_case(name)


@pytest.mark.parametrize(
    "name",
    ["BadName.txt", "also-bad.md", "2020_report.txt", "_private.txt", "with space.txt", "été.txt"],
)
def test_not_snake_case_names(name: str) -> None:
    assert not module.is_snake_case(name)
