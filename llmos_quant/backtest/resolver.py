"""Find a strategy class by name in ``strategies/*.py`` files (freqtrade-style resolver).

Search path, in order: directories given by the caller (``--strategy-path``), ``$LLMOS_QUANT_STRATEGIES``
(os.pathsep-separated), ``./strategies`` of the working directory, then the built-ins shipped inside the package
(``llmos_quant/strategies/``). The first folder holding a name wins, so a user file can override a built-in.
A name matches a file stem (``sentiment_threshold``)
or a class name (``SentimentThreshold``). When nothing matches, the error lists the paths searched and
the names available; an import error inside a strategy file is re-raised with the file name.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from ..errors import StrategyNotFoundError
from .base import INTERFACE_VERSION, SignalStrategy

log = logging.getLogger(__name__)
BUILTIN_DIR = Path(__file__).resolve().parents[1] / "strategies"
TEMPLATE = BUILTIN_DIR / "_template.py"


def search_paths(extra: Iterable[str | Path] = ()) -> list[Path]:
    paths = [Path(p) for p in extra]
    env = os.environ.get("LLMOS_QUANT_STRATEGIES")
    if env:
        paths += [Path(p) for p in env.split(os.pathsep) if p]
    paths += [Path.cwd() / "strategies", BUILTIN_DIR]
    seen, out = set(), []
    for p in paths:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _load_module(path: Path):  # type: ignore[no-untyped-def]
    name = f"llmos_quant_strategies.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise StrategyNotFoundError(f"cannot import strategy file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise StrategyNotFoundError(f"error while importing strategy file {path}: {type(exc).__name__}: {exc}") from exc
    return module


def _classes(module) -> list[type[SignalStrategy]]:  # type: ignore[no-untyped-def]
    return [c for _, c in inspect.getmembers(module, inspect.isclass)
            if issubclass(c, SignalStrategy) and c is not SignalStrategy and c.__module__ == module.__name__]


def available(extra: Iterable[str | Path] = ()) -> dict[str, Path]:
    """Every strategy file stem found on the search path -> its file (first path wins)."""
    found: dict[str, Path] = {}
    for folder in search_paths(extra):
        if folder.is_dir():
            for f in sorted(folder.glob("*.py")):
                if not f.name.startswith("_"):
                    found.setdefault(f.stem, f)
    return found


def builtin_names() -> dict[str, str]:
    """File stems and class names of the built-in strategies -> the file stem (read from the files, not imported)."""
    import re

    out: dict[str, str] = {}
    for f in sorted(BUILTIN_DIR.glob("*.py")):
        if f.name.startswith("_"):
            continue
        out[f.stem] = f.stem
        for cls in re.findall(r"^class (\w+)\(", f.read_text(encoding="utf-8"), flags=re.M):
            out[cls] = f.stem
    return out


def resolve_strategy(name: str, extra: Iterable[str | Path] = ()) -> type[SignalStrategy]:
    """The strategy class called ``name`` (file stem or class name)."""
    files = available(extra)
    candidates = [files[name]] if name in files else list(files.values())
    for path in candidates:
        if path.stem != name and name not in path.read_text(encoding="utf-8"):
            continue
        classes = _classes(_load_module(path))
        match = [c for c in classes if path.stem == name or c.__name__ == name]
        if path.stem == name and len(classes) != 1:
            raise StrategyNotFoundError(
                f"{path} must define exactly one SignalStrategy subclass, found {[c.__name__ for c in classes]}")
        if match:
            cls = match[0]
            version = getattr(cls, "interface_version", None)
            if version != INTERFACE_VERSION:
                raise StrategyNotFoundError(
                    f"{cls.__name__} in {path} declares interface_version={version}, this runner speaks "
                    f"{INTERFACE_VERSION}; update the strategy (see llmos_quant/backtest/base.py)")
            if path.resolve().parent != BUILTIN_DIR.resolve() and (path.stem in builtin_names()
                                                                   or cls.__name__ in builtin_names()):
                log.warning("strategy %r is read from %s, which overrides the built-in of that name", name, path)
            return cls
    searched = [str(p) for p in search_paths(extra)]
    raise StrategyNotFoundError(
        f"no strategy named {name!r}. Searched: {searched}. Available: {sorted(files) or 'none'}. "
        "Pass a file stem or class name, or add a folder with --strategy-path / $LLMOS_QUANT_STRATEGIES"
    )
