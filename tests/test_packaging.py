"""Project hygiene: environment.yml in sync with pyproject, torch pin, README's two commands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_matches_pyproject_extras_and_torch_pin():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    env = (ROOT / "environment.yml").read_text()
    extras = re.search(r"-e \.\[([^\]]+)\]", env).group(1).split(",")
    # every extra but the opt-in MPNet one (404 MB of weights: the llmos-mpnet backend and the teacher)
    assert set(extras) == set(py["project"]["optional-dependencies"]) - {"teacher"}
    assert "teacher" not in make_setup_extras()
    make = (ROOT / "Makefile").read_text()
    pin = re.search(r"torch==([\d.]+)", make).group(1)
    assert f"torch=={pin}" in env
    assert re.search(r"pip install[^\n]*\.\[dev,notebooks\][^\n]*torch==", make), "torch pinned in the same pip call"


def make_setup_extras() -> set[str]:
    make = (ROOT / "Makefile").read_text()
    return set(re.search(r"pip install[^\n]*\.\[([^\]]+)\]", make).group(1).split(","))


def test_readme_has_the_two_commands_and_ci_calls_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_no_shared_data_copied_into_repo():
    names = {"Sentences_50Agree.txt", "reuters_news_sp500_stocknet_2011-07-06_2016-12-31.csv", "FIN5.txt"}
    found = [p for p in ROOT.rglob("*") if p.name in names and ".venv" not in p.parts]
    assert not found


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_runs_the_demo_and_a_shipped_strategy(tmp_path):
    """Build the wheel, install it (with its dependencies, torch pinned in the same pip call, as the README does)
    into a new virtualenv outside the checkout, and run `llmos-quant demo` and a built-in strategy from there."""
    import os
    import subprocess
    import sys

    wheels = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(ROOT)], check=True, capture_output=True)
    (wheel,) = wheels.glob("llmos_quant-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pin = re.search(r"torch==([\d.]+)", (ROOT / "Makefile").read_text()).group(1)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel), f"torch=={pin}"], check=True,
                   capture_output=True)
    work = tmp_path / "work"  # a directory outside the checkout, with no strategies/ folder
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "LLMOS_QUANT"))}
    env["HOME"] = str(tmp_path / "home")
    cli = str(venv / "bin" / "llmos-quant")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([cli, *args], cwd=work, env=env, capture_output=True, text=True, timeout=600)

    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import llmos_quant, sys; print(llmos_quant.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout
    assert str(venv) in where and str(ROOT) not in where
    # the shipped learned link model is package data, loaded from site-packages
    linker = subprocess.run([str(venv / "bin" / "python"), "-c", "from llmos_quant.encoders.link_model import LinkModel; "
                             "m = LinkModel.load(); print(len(m.classes), m.best('iPhone sales slow')[0])"],
                            cwd=work, env=env, capture_output=True, text=True)
    assert linker.returncode == 0, linker.stderr[-2000:]
    assert int(linker.stdout.split()[0]) > 400
    demo = run("demo", "--out", "demo", "--n-assets", "10", "--n-sessions", "80")
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "SYNTHETIC" in demo.stdout and (work / "demo" / "tear_sheet.html").is_file()
    for strategy in ("long_short", "sentiment_threshold", "sentiment_momentum"):
        bt = run("backtest", "--strategy", strategy, "--signals", "demo/signals.duckdb", "--prices", "demo/prices.parquet",
                 "--out", f"{strategy}.html")
        assert bt.returncode == 0, (strategy, bt.stderr[-2000:])
        assert (work / strategy / "stats.json").is_file()
    daily = run("signals", "daily", "--date", "2021-03-01", "--source", "synthetic", "--backend", "lm", "--quiet")
    assert daily.returncode == 0, daily.stderr[-2000:]
    store = tmp_path / "home" / ".local" / "share" / "llmos_quant" / "store" / "signals.duckdb"
    assert store.is_file()  # a wheel install keeps its data in the user's data folder, not in site-packages
