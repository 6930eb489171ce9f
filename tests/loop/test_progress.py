import io

from rich.console import Console

from iteration_records import record_at
from stratloop.loop.progress import RichProgress


class TestRichProgress:
    def test_the_bar_shows_count_method_and_best_metric(self):
        """After commits the bar reads n/total, the last method and the champion's score."""
        out = io.StringIO()
        progress = RichProgress(Console(file=out, width=160, force_terminal=False), "sharpe")
        progress.begin(10, 2)
        progress.committed(record_at(0, kind=0), 1.23456)
        progress.committed(record_at(1, kind=2), 1.23456)
        progress.end()
        text = out.getvalue()
        assert "4/10" in text
        assert "generation_failed" in text
        assert "best sharpe 1.235" in text
