"""``--help`` explains every option, and the defaults it shows are the ones the library uses."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from llmos_quant.cli.main import app


def _commands(cmd: Any = None, path: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every leaf command of the app by its command line ('train sentiment'), groups walked recursively."""
    cmd = typer.main.get_command(app) if cmd is None else cmd
    if hasattr(cmd, "commands"):
        out: dict[str, Any] = {}
        for name, sub in cmd.commands.items():
            out |= _commands(sub, (*path, name))
        return out
    return {" ".join(path): cmd}


COMMANDS = _commands()


def _param(command: str, name: str) -> Any:
    return next(p for p in COMMANDS[command].params if p.name == name)


def test_the_walk_finds_the_commands():
    assert {"score", "pretrain", "study", "backtest", "train sentiment", "train distill", "train report", "train ner",
            "train events", "signals daily"} <= set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_and_argument_has_help(command):
    missing = [p.opts[0] for p in COMMANDS[command].params
               if p.param_type_name in ("option", "argument") and "--help" not in p.opts
               and not (getattr(p, "help", None) or "").strip()]
    assert not missing, f"`llmos-quant {command}`: no help text for {missing}"


def _fields(cls: type) -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def _params(fn: Any) -> dict[str, Any]:
    return {k: p.default for k, p in inspect.signature(fn).parameters.items() if p.default is not p.empty}


def _sources() -> dict[tuple[str, str], dict[str, Any]]:
    """The imported configs / entry points the CLI reads its defaults from, by ``source_defaults`` key."""
    from llmos_quant.encoders.distill import DistillConfig
    from llmos_quant.encoders.events import train_events
    from llmos_quant.encoders.ner import train_ner
    from llmos_quant.encoders.sentiment import SentimentEncoder, TransformerBackend
    from llmos_quant.encoders.train import SentimentTrainConfig
    from llmos_quant.llmos.pretrain import PretrainConfig, default_corpus
    from llmos_quant.study import StudyConfig

    return {("encoders.train", "SentimentTrainConfig"): _fields(SentimentTrainConfig),
            ("encoders.distill", "DistillConfig"): _fields(DistillConfig),
            ("encoders.ner", "train_ner"): _params(train_ner),
            ("encoders.events", "train_events"): _params(train_events),
            ("encoders.sentiment", "SentimentEncoder.create"): _params(SentimentEncoder.create),
            ("encoders.sentiment", "TransformerBackend.__init__"): _params(TransformerBackend.__init__),
            ("llmos.pretrain", "PretrainConfig"): _fields(PretrainConfig),
            ("llmos.pretrain", "default_corpus"): _params(default_corpus),
            ("study", "StudyConfig"): _fields(StudyConfig)}


@pytest.mark.parametrize("key", list(_sources()))
def test_source_defaults_reads_what_the_import_has(key):
    """The CLI parses these modules instead of importing them (they import torch); the parse must agree."""
    from llmos_quant.cli.train import _imported_defaults, source_defaults

    imported = _sources()[key]
    assert source_defaults(*key) == imported
    assert _imported_defaults(*key) == imported  # the fallback for installs without sources


def _expected() -> list[tuple[str, str, Any]]:
    """(command, parameter, the default the library uses) for every option whose default comes from a config."""
    from llmos_quant.jobs.research import BacktestJobConfig
    from llmos_quant.jobs.signals import SignalJobConfig

    src = _sources()
    train, distill = src["encoders.train", "SentimentTrainConfig"], src["encoders.distill", "DistillConfig"]
    rows = [("train sentiment", k, train[k]) for k in ("method", "epochs", "lr", "head_lr", "batch_size", "pooling",
                                                       "soup", "extract_rank", "agreement_smoothing", "lora_r", "limit")]
    rows.append(("train sentiment", "seeds", ",".join(map(str, train["seeds"]))))
    rows += [("train distill", k, distill[k]) for k in ("transfer_limit", "gold_weight", "temperature", "epochs", "lr",
                                                        "head_lr", "batch_size", "seed", "extract_rank")]
    rows += [("train ner", k, src["encoders.ner", "train_ner"][k]) for k in ("epochs", "lr", "lora_r")]
    rows += [("train events", k, src["encoders.events", "train_events"][k]) for k in ("limit", "epochs", "lr", "head_lr")]
    pre = src["llmos.pretrain", "PretrainConfig"]
    rows += [("pretrain", k, pre[k]) for k in ("steps", "batch_size", "hidden_size", "num_layers", "num_heads",
                                               "intermediate_size", "num_experts", "vocab_size", "lr")]
    rows.append(("pretrain", "corpus_limit", src["llmos.pretrain", "default_corpus"]["limit"]))
    study = src["study", "StudyConfig"]
    rows += [("study", "out", Path(study["out_md"])), ("study", "out_dir", Path(study["out_dir"]))]
    rows += [("study", k, study[k]) for k in ("news", "prices", "start", "end", "cost_bps", "max_loss")]
    rows += [("score", "backend", src["encoders.sentiment", "SentimentEncoder.create"]["backend"])]
    rows += [("score", k, src["encoders.sentiment", "TransformerBackend.__init__"][k]) for k in ("batch_size", "quantize")]
    sig = _fields(SignalJobConfig)
    for command in ("signals daily", "signals backfill"):
        rows += [(command, k, sig[k]) for k in ("source", "backend", "half_life", "batch_size")]
    bt = _fields(BacktestJobConfig)
    rows += [("backtest", k, bt[k]) for k in ("cash", "commission_bps", "slippage_bps", "rebalance", "workers")]
    rows.append(("backtest", "max_leverage", bt["max_gross_leverage"]))
    return rows


@pytest.mark.parametrize(("command", "name", "expected"), _expected())
def test_the_default_shown_is_the_configs(command, name, expected):
    default = _param(command, name).default
    if isinstance(expected, Path):
        default = Path(default)
    assert default == expected and type(default) is type(expected), (
        f"`llmos-quant {command}` --{name.replace('_', '-')} shows {default!r}, the library uses {expected!r}")


def test_seeds_help_names_the_soup_that_is_used():
    """The seeds are merged by --soup (uniform by default), not always by a greedy soup."""
    seeds, soup = _param("train sentiment", "seeds").help, _param("train sentiment", "soup").help
    assert "--soup" in seeds and "greedy" not in seeds
    assert "uniform" in soup and "greedy" in soup


def test_the_cli_starts_without_importing_torch():
    """Reading the defaults must not cost a torch import at every start (``--help`` included)."""
    code = "import sys, llmos_quant.cli.main; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_python_dash_m_runs_the_same_cli_with_its_exit_codes():
    """``python -m llmos_quant`` is the ``llmos-quant`` script: same help, same usage exit code."""
    ok = subprocess.run([sys.executable, "-m", "llmos_quant", "--help"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "Usage: llmos-quant" in ok.stdout and "train" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "llmos_quant", "no-such-command"], capture_output=True, text=True,
                         check=False)
    assert bad.returncode == 2 and "no-such-command" in bad.stdout + bad.stderr


def test_help_screens_name_option_values_in_cli_words(capsys):
    """Typer 0.29 prints Python type names (<str>, <float>, <bool> even after --help); the options of every command
    read TEXT / INTEGER / FLOAT / PATH / YYYY-MM-DD, and flags show no value; arguments' type columns too."""
    from llmos_quant.cli.main import main

    seen = 0
    for command in COMMANDS:
        argv = command.split()
        assert main([*argv, "--help"]) == 0
        out = capsys.readouterr().out
        for word in ("<bool>", "<float>", "<int>", "<path>", "<str>", "<list[str]>"):
            assert word not in out, (argv, word)  # options and arguments alike
        seen += 1
    assert seen >= 15
    assert main(["backtest", "--help"]) == 0
    out = capsys.readouterr().out
    assert "YYYY-MM-DD" in out.split("--start")[1].split("\n")[0] and "FLOAT" in out.split("--cash")[1].split("\n")[0]
    assert main(["score", "--help"]) == 0
    assert "TEXT..." in capsys.readouterr().out.split("texts...")[1].split("\n")[0]  # a variadic argument
