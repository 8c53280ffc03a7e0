"""Check that every content file has a snake_case name.

Why: files under `content_files/` are referenced by name from other tools and from other
operating systems (the fleet has Windows workers, whose file systems ignore case). One naming
rule, checked by a flow, keeps `Report.txt` and `report.txt` from both existing and keeps names
safe to type in any shell.

The rule, applied to every file below the directory, recursively:

* The checked part is the *stem*: the name up to its first dot. Everything from the first dot
  on is the extension and is not judged (`data.tar.gz` checks `data`; `photo.JPG` checks
  `photo`), because extensions belong to the file type, not to the author.
* The stem must be snake_case: a lowercase ASCII letter followed by lowercase ASCII letters,
  digits and underscores (`^[a-z][a-z0-9_]*$`).
* Dotfiles such as `.gitkeep` or `.DS_Store`, and everything inside dot-directories such as
  `.git/`, are skipped: they are tooling, not content, and their names are not ours to choose.
* Only file names are checked, not the names of the directories that hold them.

The flow fails listing *all* offending files at once, so one run is enough to fix them.
A relative `directory` is relative to the run's working directory: the repository root on a
worker. Entrypoint: `flows/verify_filenames.py:verify_filenames`.
"""

from __future__ import annotations

import re
from pathlib import Path

from prefect import flow, task

SNAKE_CASE = re.compile(r"[a-z][a-z0-9_]*")


class BadFilenamesError(ValueError):
    """Some file names are not snake_case."""


def stem(name: str) -> str:
    """The part of a file name that the rule checks: everything before the first dot."""
    return name.split(".", 1)[0]


def is_snake_case(name: str) -> bool:
    """Whether the stem of file name `name` is snake_case."""
    return SNAKE_CASE.fullmatch(stem(name)) is not None


def is_hidden(relative: Path) -> bool:
    """Whether a path (relative to the checked directory) is, or is inside, a dotfile."""
    return any(part.startswith(".") for part in relative.parts)


@task
def list_files(directory: str) -> list[str]:
    """The files to check below `directory`, as sorted POSIX paths relative to it."""
    root = Path(directory)
    if not root.is_dir():
        raise NotADirectoryError(
            f"{directory!r} is not a directory (relative paths start at {Path.cwd()})"
        )
    files = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if path.is_file() and not is_hidden(relative):
            files.append(relative.as_posix())
    return sorted(files)


@flow(log_prints=True)
def verify_filenames(directory: str = "content_files") -> list[str]:
    """Check the names of all files below `directory`; return the checked paths (relative to
    `directory`) or fail naming every path whose file name is not snake_case."""
    files = list_files(directory)
    bad = [name for name in files if not is_snake_case(Path(name).name)]
    if bad:
        raise BadFilenamesError(
            f"{len(bad)} of {len(files)} file name(s) in {directory!r} are not snake_case "
            f"(stem must match {SNAKE_CASE.pattern}): {', '.join(bad)}"
        )
    print(f"All {len(files)} file name(s) in {directory!r} are snake_case")
    return files


if __name__ == "__main__":
    verify_filenames()
