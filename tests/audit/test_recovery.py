"""Recovery on open: the chain head past blank lines, a torn tail moved aside, damage named."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratloop.acceptance.audit_samples import write_sample_trail
from stratloop.audit import AuditTrail
from stratloop.config.models import AuditConfig
from stratloop.errors import AuditFormatError


def _trail(path: Path) -> AuditTrail:
    return AuditTrail(AuditConfig(path=str(path), fsync="never"), run_id="r", instance_id="i")


class TestRecovery:
    def test_resumes_after_the_last_record_past_blank_lines_and_a_torn_tail(self, tmp_path):
        """One read of the live file finds the chain head and moves the torn tail aside."""
        path = tmp_path / "learning_audit.jsonl"
        written = write_sample_trail(path, 3)
        with path.open("ab") as handle:
            handle.write(b"\n  \n" + b'{"seq": 3, "tor')
        with _trail(path) as trail:
            assert trail.recovery.resumed_seq == 3
            assert trail.recovery.torn is not None
            assert trail.recovery.torn.size == len(b'{"seq": 3, "tor')
            assert trail.head == (2, written[2]["hash"])
        assert path.read_bytes().endswith(b"\n  \n")

    @pytest.mark.parametrize(
        ("line", "problem"),
        [(b'{"seq": 3}', "is invalid"), (b"{not json", "is not JSON")],
    )
    def test_a_damaged_last_record_is_named_by_its_line(self, tmp_path, line, problem):
        """The error names the file and line of the damaged record, blank lines counted."""
        path = tmp_path / "learning_audit.jsonl"
        write_sample_trail(path, 3)
        with path.open("ab") as handle:
            handle.write(line + b"\n\n")
        with pytest.raises(AuditFormatError, match=f"{path}:4: the trail's record {problem}"):
            _trail(path)
