from __future__ import annotations

import pandas as pd
import pytest

from llmos_quant.errors import UsageError
from llmos_quant.factors.evaluate import evaluate_factor
from llmos_quant.study import StudyConfig, StudyResult, run_study, write_study_md


def test_study_refuses_held_out_period_unless_out_of_sample(tmp_path):
    with pytest.raises(UsageError, match="held out.*--out-of-sample"):
        run_study(StudyConfig(out_md=str(tmp_path / "s.md"), out_dir=str(tmp_path), end="2017-03-01"))
    cfg = StudyConfig(start="2017-01-03", end="2017-03-01", out_of_sample=True)
    assert cfg.out_of_sample and cfg.news_spec == "reuters"
    with pytest.raises(UsageError, match="after --end"):
        StudyConfig(start="2016-03-01", end="2016-01-01")
    with pytest.raises(UsageError, match="--source-format 'csv'"):
        StudyConfig(news="x.csv", source_format="csv")
    assert StudyConfig(news="x.csv", source_format="table").news_spec == "table:x.csv"
    assert StudyConfig(news="synthetic", prices="synthetic", start="2021-01-04", end="2021-06-30")  # invented data


def _result(market, **config):
    rep = evaluate_factor(market.truth["true_polarity"], market.prices, decay_horizons=(1, 2))
    return StudyResult({"LLMOS sentiment": rep}, {"gross (0 bps)": {"sharpe": 1.0}, "net (10 bps/side)": {"sharpe": 0.5}},
                       {"assets in universe": 12, "mean assets with fresh news per day": 2.0,
                        "mean share of universe with a signal": 0.4}, 60.0, config=StudyConfig(**config))


def test_study_markdown_has_tables_and_caveats(tmp_path, market):
    path = write_study_md(tmp_path / "study.md", _result(market, start="2016-01-04", end="2016-04-29"))
    text = path.read_text()
    assert "| LLMOS sentiment | 1D |" in text and "Caveats" in text and "Survivorship" in text
    assert "gross (0 bps)" in text and "net (10 bps/side)" in text
    assert "distilled on unlabelled Reuters" in text and "2.0 of 12" in text
    assert "OUT-OF-SAMPLE" not in text and "llmos-quant study --start 2016-01-04 --end 2016-04-29" in text


def test_out_of_sample_report_is_stamped(tmp_path, market):
    path = write_study_md(tmp_path / "oos.md", _result(market, start="2017-01-03", end="2017-06-30",
                                                        out_of_sample=True, news="table:/x/news.csv"))
    text = path.read_text()
    assert text.startswith("# OUT-OF-SAMPLE evaluation") and "--out-of-sample" in text and "--news table:/x/news.csv" in text


@pytest.mark.slow
@pytest.mark.data
def test_study_on_a_new_file_and_window_with_one_command(shared_data, tmp_path, capsys):
    """A researcher reruns the study on their own news file (here: a Reuters slice written as a plain table) and a
    window of their choice, with one command; the report has every section."""
    from llmos_quant.cli.main import main
    from llmos_quant.data.news import read_reuters_csv

    news = read_reuters_csv().frame
    tickers = ["AAPL", "MSFT", "AMZN", "GOOGL", "JPM", "XOM", "GE", "WMT", "BAC", "C", "INTC", "CSCO", "PFE", "KO",
               "T", "VZ", "ORCL", "IBM", "MRK", "CVX", "GS", "MS", "WFC", "BA", "CAT"]
    sl = news[(news["published_at"] >= pd.Timestamp("2016-05-01", tz="UTC")) & news["asset"].isin(tickers)]
    path = tmp_path / "my_news.csv"
    sl[["published_at", "asset", "headline"]].assign(
        published_at=lambda f: f["published_at"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    out = tmp_path / "study.md"
    code = main(["study", "--news", str(path), "--source-format", "table", "--start", "2016-07-01", "--end",
                 "2016-12-30", "--out", str(out), "--out-dir", str(tmp_path / "study"), "--no-figures", "--quiet"])
    assert code == 0, capsys.readouterr().err
    text = out.read_text()
    for section in ("## Information coefficient", "gross", "Benjamini-Hochberg", "## Event study", "car_+0",
                    "## Backtest", "## Coverage", "## Caveats"):
        assert section in text, section
    assert (tmp_path / "study" / "event_study.html").stat().st_size > 50_000


def test_a_study_whose_event_study_has_no_complete_event_reports_the_section_empty(tmp_path):
    """A -45..+45 event window around a 38-session study leaves no event with a complete window: the study still
    writes its report, and the event-study section (and its HTML page) says why it is empty instead of the whole
    run failing."""
    result = run_study(StudyConfig(news="synthetic", prices="synthetic", start="2021-01-04", end="2021-02-26",
                                   event_window=(-45, 45), backtest=False, figures_dir=None,
                                   out_md=str(tmp_path / "s.md"), out_dir=str(tmp_path / "out")), progress=False)
    assert result.event_study is None and "incomplete_window" in result.event_study_notes["market"]
    text = (tmp_path / "s.md").read_text()
    section = text[text.index("### vs the equal-weight universe (market)"):]
    assert section.split("\n")[2].startswith("n/a: no event has a market abnormal return at every offset -45..45")
    assert "## Information coefficient" in text
    page = (tmp_path / "out" / "event_study.html").read_text()
    assert "No event study vs market: no event has a market abnormal return" in page


def test_a_short_study_window_reads_the_forward_returns_after_its_end(tmp_path):
    """Two weeks of sessions: the forward returns of every signal run past --end, so the evaluations read the prices
    after it (the signals, universe and backtest keep to the window); without them every row would be dropped."""
    config = StudyConfig(news="synthetic", prices="synthetic", start="2021-03-01", end="2021-03-12", backtest=False,
                         figures_dir=None, out_md=str(tmp_path / "s.md"), out_dir=str(tmp_path / "out"))
    result = run_study(config, progress=False)
    rep = result.reports["LLMOS sentiment"]
    assert rep.row_counts.no_forward_return == 0 and rep.row_counts.kept > 0
    assert rep.data.index.get_level_values("date").max() <= pd.Timestamp("2021-03-12")
    assert "read prices up to 2021-04-26" in (tmp_path / "s.md").read_text()


def test_an_in_sample_study_reads_no_price_after_the_research_window(tmp_path):
    from llmos_quant.study import _outcome_end

    assert _outcome_end(StudyConfig(end="2016-12-20")) == "2016-12-31"
    assert _outcome_end(StudyConfig(end="2016-06-30")) == "2016-08-14"
    assert _outcome_end(StudyConfig(end="2017-03-01", out_of_sample=True)) == "2017-04-15"


def test_a_study_max_loss_is_passed_to_the_factor_evaluations(tmp_path):
    """The study's max_loss (--max-loss) reaches evaluate_factor: with 0 a single dropped row stops the run."""
    from llmos_quant.errors import MaxLossExceededError

    with pytest.raises(MaxLossExceededError, match=r"above max_loss=0 .* accept the loss with --max-loss"):
        run_study(StudyConfig(news="synthetic", prices="synthetic", start="2021-11-01", end="2021-12-30",
                              backtest=False, figures_dir=None, max_loss=0.0, out_md=str(tmp_path / "s.md"),
                              out_dir=str(tmp_path / "out")), progress=False)
