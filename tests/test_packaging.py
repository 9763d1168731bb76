"""Project hygiene: environment.yml in sync with pyproject, torch pin, README's two commands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_matches_pyproject_extras_and_torch_pin():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    env = (ROOT / "environment.yml").read_text()
    extras = re.search(r"-e \.\[([^\]]+)\]", env).group(1).split(",")
    assert set(extras) == set(py["project"]["optional-dependencies"])
    make = (ROOT / "Makefile").read_text()
    pin = re.search(r"torch==([\d.]+)", make).group(1)
    assert f"torch=={pin}" in env
    assert re.search(r"pip install[^\n]*\.\[dev,notebooks\][^\n]*torch==", make), "torch pinned in the same pip call"


def test_readme_has_the_two_commands_and_ci_calls_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_no_shared_data_copied_into_repo():
    names = {"Sentences_50Agree.txt", "reuters_news_sp500_stocknet_2011-07-06_2016-12-31.csv", "FIN5.txt"}
    found = [p for p in ROOT.rglob("*") if p.name in names and ".venv" not in p.parts]
    assert not found
