from pathlib import Path

from loop_helpers import factor_graph_source, hash_evaluator, loop_config

from stratloop.flags import EnvFlagSource
from stratloop.loop import LoopParts, LoopRunner, read_history

DOCS = Path(__file__).resolve().parents[2] / "docs"


class TestDocs:
    def test_every_counter_and_history_key_is_documented(self, tmp_path):
        """metrics.json keys and history record keys all appear in the loop or generation docs."""
        parts = LoopParts(
            factor_graph=factor_graph_source(), evaluator=hash_evaluator, flags=EnvFlagSource({})
        )
        summary = LoopRunner.create(loop_config(tmp_path, iterations=4), lambda _u: parts).run()
        text = (DOCS / "loop.md").read_text() + (DOCS / "generation.md").read_text()
        record = read_history(summary.path / "history.jsonl").records[0].as_dict()
        missing = [key for key in [*summary.metrics, *record] if f"`{key}`" not in text]
        assert missing == []
