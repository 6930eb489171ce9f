import pytest

from stratloop.errors import FactorTemplateError
from stratloop.factors import default_library, dsl_reference, load_user_factors

GOOD = """
version: 1
factors:
  quality_trend:
    expression: "ts_mean(returns, {n}) / ts_std(returns, {n})"
    description: "Sharpe-like trend"
    params:
      n: {low: 20, high: 120, default: 60}
  plain:
    expression: "rank(returns)"
"""


def write(tmp_path, text):
    path = tmp_path / "factors.yaml"
    path.write_text(text)
    return path


class TestLoadUserFactors:
    def test_good_file_joins_library_and_reference(self, tmp_path):
        """User templates load, join the library and appear in the DSL reference."""
        templates = load_user_factors(write(tmp_path, GOOD))
        assert [t.name for t in templates] == ["quality_trend", "plain"]
        assert templates[0].params["n"].default == 60
        library = default_library().with_templates(templates)
        assert str(library.instantiate("quality_trend", {"n": 30})) == (
            "ts_mean(returns, 30) / ts_std(returns, 30)"
        )
        assert "quality_trend" in dsl_reference(library)

    @pytest.mark.parametrize(
        ("text", "needle"),
        [
            ("version: 1\nfactors:\n  x:\n    expression: 'ts_maen(close, 3)'\n", "'x'.*ts_mean"),
            ("version: 1\nfactors:\n  x:\n    expresion: 'close'\n", "did you mean expression"),
            ("version: 1\nfactors:\n  x:\n    expression: 'ts_mean(close, {n})'\n",
             "without a range"),
            ("version: 1\nfactors:\n  x:\n    expression: 'returns'\n"
             "  x:\n    expression: 'returns'\n",
             "duplicate key"),
            ("version: 2\nfactors: {}\n", "'version' must be 1"),
            ("factors: [\n", "not valid YAML"),
            ("version: 1\nfactors:\n  x:\n    expression: 'ts_std(returns, {n})'\n"
             "    params: {n: {low: 1, high: 5}}\n", "'x'.*must be >= 2"),
            ("version: 1\nfactors:\n  x:\n    expression: 'ts_std(returns, {n})'\n"
             "    params: {n: {low: 2, high: 5, default: 9}}\n", "low <= default <= high"),
            ("version: 1\nfactors:\n  x:\n    expression: 'returns'\n"
             "    code: 'import os'\n", "unknown key 'code'"),
            ("version: 1\nfactors:\n  Bad-Name:\n    expression: 'returns'\n", "must match"),
            ("!!python/object:os.system 'x'\n", "not valid YAML"),
        ],
    )
    def test_bad_files_name_the_problem(self, tmp_path, text, needle):
        """A bad template is a startup error naming the template or the file."""
        with pytest.raises(FactorTemplateError, match=needle):
            load_user_factors(write(tmp_path, text))

    def test_missing_file(self, tmp_path):
        """A missing file names the path."""
        with pytest.raises(FactorTemplateError, match="cannot read"):
            load_user_factors(tmp_path / "nope.yaml")
