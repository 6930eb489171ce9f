"""``stratloop backtest`` and ``stratloop factors``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stratloop.backtest import dump_strategy
from stratloop.cli import main
from stratloop.cli.backtest import _strategy
from stratloop.data import load_dataset
from stratloop.factors import default_library
from stratloop.spec import Exits, LongShort, Strategy, TopN

MOMENTUM = "delay(pct_change(close, 231), 21)"


def _run(capsys, *args):
    with pytest.raises(SystemExit) as info:
        main(["backtest", *args])
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


class TestBacktestCommand:
    def test_json_for_an_expression(self, capsys):
        """--json prints train, validation and folds beside the benchmark; the holdout sealed."""
        code, out, _ = _run(capsys, MOMENTUM, "--json")
        assert code == 0
        payload = json.loads(out)
        assert payload["strategy"]["portfolio"] == {"kind": "top_n", "n": 5, "rebalance_days": 21}
        assert payload["train"]["n_trades"] > 0
        assert payload["holdout_start"] == "2013-02-04"
        assert payload["holdout"] is None
        assert len(payload["folds"]) == 4
        assert payload["validation"]["benchmark"]["n_days"] == payload["validation"]["n_days"]
        assert "information_ratio" in payload["validation"]
        assert len(payload["ic_decay"]["ic"]) == 20

    def test_matches_the_golden_record(self, capsys):
        """The CLI reports the same numbers as the golden reference record, holdout included."""
        golden = json.loads(
            (Path(__file__).parents[1] / "backtest" / "golden"
             / "momentum_12_1_top5_monthly_10bps.json").read_text()
        )
        _, out, _ = _run(
            capsys, MOMENTUM, "--json", "--top-n", "5", "--cost-bps", "10", "--holdout"
        )
        payload = json.loads(out)
        for segment in ("train", "validation"):
            got, want = payload[segment], golden["evaluation"][segment]
            for key, value in want.items():
                if isinstance(value, float):
                    assert got[key] == pytest.approx(value), (segment, key)
        assert payload["holdout"]["sharpe"] == pytest.approx(golden["holdout"]["sharpe"])

    def test_table(self, capsys):
        """Without --json tables list every metric, the benchmark, the factor and the verdict."""
        code, out, _ = _run(capsys, MOMENTUM, "--long-short", "0.2", "--rebalance", "10")
        assert code == 0
        for name in ("sharpe", "deflated_sharpe", "max_drawdown", "hit_rate", "information_ratio"):
            assert name in out
        for words in ("validation folds", "rank_ic", "IC decay", "from equal weight at 5%"):
            assert words in out
        assert "sealed" in out
        assert "quantile=0.2" in out

    @pytest.mark.parametrize("suffix", [".json", ".yaml"])
    def test_spec_file(self, capsys, tmp_path, suffix):
        """A spec file's rule and exits are used; --rebalance overrides the period."""
        path = tmp_path / f"spec{suffix}"
        spec = Strategy(
            expression=MOMENTUM,
            portfolio=LongShort(quantile=0.25, rebalance_days=5),
            exits=Exits(stop_loss=0.1),
        )
        dump_strategy(spec, path)
        code, out, _ = _run(capsys, str(path), "--json", "--rebalance", "42")
        assert code == 0
        strategy = json.loads(out)["strategy"]
        expected = {"kind": "long_short", "quantile": 0.25, "rebalance_days": 42}
        assert strategy["portfolio"] == expected
        assert strategy["exits"]["stop_loss"] == 0.1

    def test_bad_spec_names_field(self, capsys, tmp_path):
        """An invalid spec file is exit 1 naming the file and the field."""
        path = tmp_path / "spec.yaml"
        path.write_text(yaml.safe_dump({"expression": "returns", "portfolio": {"kind": "top_n"}}))
        code, _, err = _run(capsys, str(path))
        assert code == 1
        assert "portfolio.top_n.n" in err
        assert "spec.yaml" in err

    def test_missing_spec_file(self, capsys, tmp_path):
        """A spec path that does not exist is exit 2."""
        code, _, err = _run(capsys, str(tmp_path / "nope.json"))
        assert code == 2
        assert "does not exist" in err

    def test_typo_in_expression(self, capsys):
        """A DSL error is exit 1 with the suggestion, never a traceback."""
        code, _, err = _run(capsys, "ts_maen(close, 5)")
        assert code == 1
        assert "did you mean ts_mean" in err
        assert "Traceback" not in err

    @pytest.mark.parametrize(
        ("expression", "message"),
        [
            ("", "`expression`: String should have at least 1 character"),
            ("returns+" * 600 + "returns", "`expression`: String should have at most 4000"),
        ],
    )
    def test_an_empty_or_huge_expression_is_a_clear_error(self, capsys, expression, message):
        """The message names the field and the limit, with no pydantic URL or traceback."""
        code, out, err = _run(capsys, expression)
        assert code == 1
        assert message in out + err
        assert "errors.pydantic.dev" not in out + err
        assert "Traceback" not in out + err

    def test_a_price_level_across_stocks_is_refused(self, capsys):
        """The leak through back-adjusted levels is a unit error here too, not a backtest."""
        code, out, err = _run(capsys, "rank(-close)")
        assert code == 1
        assert "unit error" in out + err
        assert "close / delay(close, 20)" in out + err

    def test_two_rules(self, capsys):
        """--top-n and --long-short together are refused."""
        code, _, err = _run(capsys, MOMENTUM, "--top-n", "3", "--long-short", "0.2")
        assert code == 1
        assert "give only one" in err

    def test_csv_data(self, capsys, tmp_path):
        """--data takes a CSV path."""
        panel = load_dataset()
        path = tmp_path / "prices.csv"
        lines = ["Date," + ",".join(panel.assets[:6])]
        lines += [
            f"{d}," + ",".join(f"{v:.4f}" for v in row[:6])
            for d, row in zip(panel.dates[-800:], panel.close[-800:], strict=True)
        ]
        path.write_text("\n".join(lines) + "\n")
        code, out, _ = _run(capsys, "ts_mean(returns, 20)", "--data", str(path), "--json")
        assert code == 0
        assert json.loads(out)["data"] == str(path)

    def test_unknown_data(self, capsys):
        """An unknown dataset is exit 1 listing the known ones."""
        code, _, err = _run(capsys, MOMENTUM, "--data", "sp500-999")
        assert code == 1
        assert "sp500-20" in err

    def test_as_a_process(self):
        """The installed entry point runs as a real process."""
        command = Path(sys.executable).with_name("stratloop")
        done = subprocess.run(
            [str(command), "backtest", "pct_change(close, 20)", "--top-n", "2", "--json"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["strategy"]["portfolio"]["n"] == 2


class TestFactorsCommand:
    def test_lists_templates_and_operators(self, capsys):
        """Every library template and the operator reference are printed."""
        with pytest.raises(SystemExit) as info:
            main(["factors"])
        out = capsys.readouterr().out
        assert info.value.code == 0
        for name in default_library().names:
            assert name[:12] in out
        assert "ts_mean" in out


class TestSpecDefaults:
    def test_topn_default(self):
        """The documented default portfolio for a bare expression is top 5 every 21 days."""
        assert _strategy("close", None, None, None).portfolio == TopN(n=5, rebalance_days=21)
