"""Where things live: the shared public datasets, the project's data/ folder and the cache."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .errors import DataNotFoundError, StoreError

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


def shared_data_dir(required: bool = False) -> Path | None:
    """The folder of public datasets: $LLMOS_QUANT_SHARED_DATA, else ../shared/data beside the repo or cwd."""
    candidates = []
    if env := os.environ.get("LLMOS_QUANT_SHARED_DATA"):
        candidates.append(Path(env))
    candidates += [REPO_DIR.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for path in candidates:
        if path.is_dir():
            return path
    if required:
        raise DataNotFoundError(
            f"the shared datasets folder was not found (looked in {[str(c) for c in candidates]}); "
            "set LLMOS_QUANT_SHARED_DATA to the folder holding financial_phrasebank/, sp500_prices_5yr/, ..."
        )
    return None


def shared_path(*parts: str) -> Path:
    """A path inside the shared datasets folder, with a clear error when it is missing."""
    root = shared_data_dir(required=True)
    assert root is not None
    path = root.joinpath(*parts)
    if not path.exists():
        raise DataNotFoundError(f"{path} does not exist; is the shared datasets folder complete?")
    return path


def in_checkout() -> bool:
    """True when the package runs from a source checkout (editable install), not from an installed wheel."""
    return (REPO_DIR / "pyproject.toml").is_file() and (REPO_DIR / "llmos_quant").is_dir()


def data_dir() -> Path:
    """The project's data folder: $LLMOS_QUANT_DATA, else <checkout>/data, else (wheel install)
    $XDG_DATA_HOME/llmos_quant (default ~/.local/share/llmos_quant)."""
    if env := os.environ.get("LLMOS_QUANT_DATA"):
        return Path(env)
    if in_checkout():
        return REPO_DIR / "data"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "llmos_quant"


def cache_dir() -> Path:
    """Cache location ($LLMOS_QUANT_CACHE or data/cache); created on demand."""
    path = Path(os.environ.get("LLMOS_QUANT_CACHE", data_dir() / "cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_output_file(path: Path, option: str, example: str = "report.html") -> None:
    """``check_writable_parent`` for a report or data file, and refuse a path that is an existing folder
    (``example``: a file name of the kind the option writes, shown in the message)."""
    if Path(path).is_dir():
        raise StoreError(f"{option} {path} is a folder; pass a file name, e.g. {Path(path) / example}")
    check_writable_parent(path, option)


def check_writable_parent(path: Path, option: str) -> None:
    """Refuse up front, before any work is done, a path that cannot be written: a parent that is a file, a folder
    this user cannot create files in (permissions, a read-only file system), or an existing file it cannot write."""
    path = Path(path)
    if path.exists() and not os.access(path, os.W_OK):
        raise StoreError(f"{option} {path}: the file exists and this user cannot write it (permissions, read-only file "
                         "system); pass a writable path")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise StoreError(f"{option} {path}: {parent} is a file, not a folder, so nothing can be written there; "
                                 "pass a path in a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise StoreError(f"{option} {path}: this user cannot create files in {parent} (permissions, read-only "
                                 "file system); pass a writable path")
            return


def write_atomic(path: Path, write: Callable[[Path], object], what: str, option: str = "--out") -> Path:
    """Write a file through ``write(tmp)`` into ``<path>.tmp`` beside it, then rename it over ``path``, so a reader
    never sees half a file and a failed write leaves the previous one in place. ``OSError`` (full disk, permissions,
    a read-only file system) becomes ``StoreError`` (exit 7) naming ``what`` and ``option``."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write {what} {path}: {type(exc).__name__}: {exc}; pass a writable {option}") from exc
    return path
