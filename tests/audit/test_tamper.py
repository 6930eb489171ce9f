"""Tamper evidence (issue 13 item 4): every listed attack is detected with the trail's key.

The attacker here holds no key: they can read, edit, delete and rewrite
every file, and recompute SHA-256 hashes, head files and log entries.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import zstandard
from typer.testing import CliRunner

from stratloop.acceptance.audit_samples import write_sample_trail
from stratloop.audit import iter_records, last_checkpoint, verify_trail
from stratloop.audit._canonical import GENESIS_HASH, canonical_json
from stratloop.audit._files import TrailFiles, read_content
from stratloop.audit._keys import keyring_from
from stratloop.cli import app
from stratloop.config.models import AuditConfig
from stratloop.errors import AuditKeyError

KEY_A = "a" * 64
KEY_B = "b" * 64
VAR = "TEST_AUDIT_KEY"


def _config(path: Path, **extra: Any) -> AuditConfig:
    return AuditConfig(path=str(path), fsync="never", key_env=VAR, **extra)


def _write(
    path: Path, count: int, keys: str = KEY_A, *, start: int = 0, **extra: Any
) -> list[dict[str, Any]]:
    """Write ``count`` records signed by the last of ``keys`` (read from the environment)."""
    os.environ[VAR] = keys
    try:
        return write_sample_trail(path, count, config=_config(path, **extra), start=start)
    finally:
        del os.environ[VAR]


def _lines(path: Path) -> list[dict[str, Any]]:
    data = read_content(path)
    return [json.loads(line) for line in data.splitlines()]


def _dump(path: Path, records: list[dict[str, Any]]) -> None:
    data = "".join(json.dumps(record) + "\n" for record in records).encode()
    path.write_bytes(zstandard.ZstdCompressor().compress(data) if path.suffix == ".zst" else data)


def _sha(record: dict[str, Any]) -> str:
    body = {key: value for key, value in record.items() if key != "hash"}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def _rechain(records: list[dict[str, Any]], prev: str = GENESIS_HASH) -> list[dict[str, Any]]:
    """What an attacker without the key can do: recompute every hash with SHA-256."""
    out = []
    for record in records:
        forged = {**record, "prev_hash": prev}
        forged["hash"] = prev = _sha(forged)
        out.append(forged)
    return out


def _write_head(path: Path, record: dict[str, Any]) -> None:
    path.with_name(path.name + ".head").write_text(f"{record['seq']:020d} {record['hash']}\n")


def _ok(path: Path, keys: str | None = KEY_A) -> bool:
    keyring = None if keys is None else keyring_from(keys, "test")
    return verify_trail(path, keyring=keyring).ok


def _problems(path: Path, keys: str = KEY_A) -> str:
    report = verify_trail(path, keyring=keyring_from(keys, "test"))
    return "\n".join(str(item) for item in report.breaks)


@pytest.fixture
def live(tmp_path: Path) -> Path:
    return tmp_path / "learning_audit.jsonl"


class TestDetectedWithAKey:
    def test_a_clean_keyed_trail_verifies_with_its_key(self, live):
        """The writer's own trail is clean, HMAC-checked, and fully anchored at close."""
        _write(live, 10)
        report = verify_trail(live, keyring=keyring_from(KEY_A, "test"))
        assert report.ok
        trail = report.trails[0]
        assert trail.mode.startswith("HMAC-SHA256")
        assert trail.last_checkpoint is not None
        assert (trail.last_checkpoint.seq, trail.unanchored) == (9, 0)

    def test_consistent_rewrite_with_recomputed_head(self, live):
        """Edit a record, recompute every hash after it and the head file."""
        _write(live, 10)
        records = _lines(live)
        records[4]["outcome"]["expression"] = "rank(close)"
        forged = _rechain(records)
        _dump(live, forged)
        _write_head(live, forged[-1])
        assert not _ok(live)
        assert "HMAC" in _problems(live)

    def test_consistent_rewrite_downgraded_to_an_unkeyed_chain(self, live):
        """Strip key_id and rewrite as a SHA-256 chain, checkpoint log deleted too."""
        _write(live, 10)
        forged = _rechain([{k: v for k, v in r.items() if k != "key_id"} for r in _lines(live)])
        _dump(live, forged)
        _write_head(live, forged[-1])
        TrailFiles(live, ()).checkpoints.unlink()
        assert _ok(live, keys=None)  # without the key this is a valid unkeyed trail
        assert not _ok(live)
        assert "none of the 10 records is signed" in _problems(live)

    def test_edited_compressed_archive_recomputed(self, live):
        """Edit a record inside a rotated .zst archive and re-chain the rest of the trail."""
        _write(live, 30, rotate_max_bytes=6_000, compress=True)
        files = TrailFiles.of(live)
        assert files.archives
        assert files.archives[0].suffix == ".zst"
        everything = [r for file in files.ordered for r in _lines(file)]
        everything[2]["decision"]["reason"] = "forged"
        forged = _rechain(everything)
        at = 0
        for file in files.ordered:
            count = len(_lines(file))
            _dump(file, forged[at : at + count])
            at += count
        _write_head(live, forged[-1])
        assert not _ok(live)
        assert "HMAC" in _problems(live)

    def test_newest_records_and_head_deleted(self, live):
        """Cut the last 3 records and delete the head file."""
        _write(live, 10)
        _dump(live, _lines(live)[:-3])
        live.with_name(live.name + ".head").unlink()
        assert not _ok(live)
        assert "checkpoint" in _problems(live)
        assert "trail ends at seq 6" in _problems(live)

    def test_oldest_archives_deleted_and_retention_entries_forged(self, live):
        """Delete the oldest archive and add a retention entry that accounts for it."""
        _write(live, 30, rotate_max_bytes=6_000, compress=True)
        files = TrailFiles.of(live)
        oldest = files.archives[0]
        records = _lines(oldest)
        oldest.unlink()
        entry = {
            "file": oldest.name,
            "first_seq": records[0]["seq"],
            "last_seq": records[-1]["seq"],
            "last_hash": records[-1]["hash"],
            "records": len(records),
            "first_timestamp": records[0]["timestamp"],
            "last_timestamp": records[-1]["timestamp"],
            "reason": "retention_files=1",
            "deleted_at": records[-1]["timestamp"],
            "key_id": keyring_from(KEY_A, "test").signing.id,
            "sig": "0" * 64,
        }
        files.retention_log.write_text(json.dumps(entry) + "\n")
        assert _ok(live, keys=None)  # without the key the forged entry explains the gap
        assert not _ok(live)
        assert "retention entry" in _problems(live)

    def test_retention_entries_are_signed_and_verify(self, live):
        """The writer's own retention signs each entry; the trimmed trail verifies with the key."""
        _write(live, 40, rotate_max_bytes=6_000, retention_files=1)
        entries = [
            json.loads(line) for line in TrailFiles.of(live).retention_log.read_text().splitlines()
        ]
        assert entries
        assert all({"key_id", "sig"} <= entry.keys() for entry in entries)
        report = verify_trail(live, keyring=keyring_from(KEY_A, "test"))
        assert report.ok, report.breaks
        assert report.trails[0].retained_records > 0

    def test_live_file_and_head_deleted(self, live):
        """Delete the live file and its head; only archives are left."""
        _write(live, 30, rotate_max_bytes=6_000)
        live.unlink()
        live.with_name(live.name + ".head").unlink()
        assert not _ok(live)
        assert "records at the end were removed" in _problems(live)

    def test_whole_trail_deleted_but_the_checkpoint_log(self, live):
        """With no record file left, the checkpoint log still says what existed."""
        _write(live, 5)
        live.unlink()
        live.with_name(live.name + ".head").unlink()
        assert not _ok(live)

    def test_forged_checkpoint(self, live):
        """A checkpoint edited to name fewer records no longer verifies."""
        _write(live, 10)
        log = TrailFiles(live, ()).checkpoints
        entry = json.loads(log.read_text().splitlines()[-1])
        entry["seq"] = 5
        log.write_text(json.dumps(entry) + "\n")
        assert "checkpoint entry" in _problems(live)


class TestKeys:
    def test_key_rotation_is_signed_by_both_keys(self, live):
        """Continuing with a new signing key writes a rotation entry; both keys verify."""
        _write(live, 5, KEY_A)
        _write(live, 5, f"{KEY_A}\n{KEY_B}", start=5)
        entries = [
            json.loads(line) for line in TrailFiles(live, ()).checkpoints.read_text().splitlines()
        ]
        rotation = next(entry for entry in entries if entry["kind"] == "key_rotation")
        assert rotation["seq"] == 5
        assert {"sig", "sig_from"} <= rotation.keys()
        assert _ok(live, keys=f"{KEY_A} {KEY_B}")
        assert "does not hold" in _problems(live, keys=KEY_B)

    def test_a_keyed_trail_is_never_continued_unsigned(self, live):
        """Opening a keyed trail without its key is an error, not a silent downgrade."""
        _write(live, 3)
        with pytest.raises(AuditKeyError, match="no key is configured"):
            write_sample_trail(live, 1, config=AuditConfig(path=str(live), fsync="never"), start=3)

    def test_rotation_needs_the_old_key(self, live):
        """A new key alone cannot take over a trail: the old one must sign the rotation."""
        _write(live, 3, KEY_A)
        with pytest.raises(AuditKeyError, match="keep the old key"):
            _write(live, 1, KEY_B, start=3)

    def test_short_and_missing_keys_are_errors(self, live, monkeypatch):
        """A key under 32 bytes, an unset variable, or both sources set: each says what to do."""
        monkeypatch.setenv(VAR, "short")
        with pytest.raises(AuditKeyError, match="at least 32 bytes"):
            write_sample_trail(live, 1, config=_config(live))
        monkeypatch.delenv(VAR)
        with pytest.raises(AuditKeyError, match="unset or empty"):
            write_sample_trail(live, 1, config=_config(live))
        with pytest.raises(AuditKeyError, match="set exactly one"):
            write_sample_trail(live, 1, config=_config(live, key_file="k"))

    def test_key_file_and_no_key_in_records(self, live, tmp_path):
        """A key file works like the variable, and no record or log line contains the key."""
        key_file = tmp_path / "audit.key"
        key_file.write_text(KEY_A + "\n")
        config = AuditConfig(path=str(live), fsync="never", key_file=str(key_file))
        write_sample_trail(live, 5, config=config)
        assert _ok(live)
        for file in live.parent.iterdir():
            if file != key_file:
                assert KEY_A.encode() not in file.read_bytes()

    def test_unkeyed_trail_gains_a_key(self, live):
        """An unkeyed trail continued with a key: the earlier records are the pre-key part."""
        write_sample_trail(live, 4)
        _write(live, 4, start=4)
        report = verify_trail(live, keyring=keyring_from(KEY_A, "test"))
        assert report.ok, report.breaks
        assert "4 unsigned" in report.trails[0].mode


class TestModesAndAnchoring:
    def test_verify_says_which_chain_it_checked(self, live, tmp_path):
        """SHA-256 for an unkeyed trail; linkage only for a keyed one verified without its key."""
        other = tmp_path / "other" / "learning_audit.jsonl"
        write_sample_trail(other, 3)
        assert verify_trail(other).trails[0].mode.startswith("SHA-256")
        _write(live, 3)
        report = verify_trail(live)
        assert report.trails[0].mode.startswith("linkage only")
        assert report.trails[0].unauthenticated == 3

    def test_last_checkpoint_is_signed_and_matches_the_last_record(self, live):
        """The function /metrics reads returns the signed head."""
        written = _write(live, 7)
        checkpoint = last_checkpoint(live)
        assert checkpoint is not None
        assert (checkpoint.seq, checkpoint.hash) == (6, written[-1]["hash"])
        assert checkpoint.key_id == written[-1]["key_id"]
        assert checkpoint.sig

    def test_records_after_the_last_checkpoint_are_counted_unanchored(self, live):
        """Records appended after the last checkpoint are reported, not hidden."""
        _write(live, 5)
        log = TrailFiles(live, ()).checkpoints
        kept = log.read_text()
        _write(live, 4, start=5)
        log.write_text(kept)
        report = verify_trail(live, keyring=keyring_from(KEY_A, "test"))
        assert report.ok
        assert (report.trails[0].last_checkpoint.seq, report.trails[0].unanchored) == (4, 4)

    def test_head_file_caught_up_when_the_writer_reopens(self, live):
        """A head left behind by a crash under fsync batch is brought forward at the next start."""
        written = write_sample_trail(live, 8, config=AuditConfig(path=str(live), fsync="batch"))
        _write_head(live, written[1])  # what a crash before the last group commit leaves
        assert verify_trail(live).trails[0].not_durable == 6
        write_sample_trail(live, 0, config=AuditConfig(path=str(live), fsync="batch"))
        head = live.with_name(live.name + ".head").read_text().split()
        assert int(head[0]) == 7


class TestCompactSnapshots:
    def test_snapshot_written_once_per_file_and_resolved_by_readers(self, live):
        """The first record of each file holds the snapshot; later ones a reference to it."""
        written = write_sample_trail(
            live, 30, config=AuditConfig(path=str(live), fsync="never", rotate_max_bytes=6_000)
        )
        for file in TrailFiles.of(live).ordered:
            stored = [r["config_snapshot"] for r in _lines(file)]
            assert "generation" in stored[0]
            assert all(snapshot == {"$ref": written[0]["config_hash"]} for snapshot in stored[1:])
        assert verify_trail(live).ok
        resolved = [record for _, _, record in iter_records(live)]
        assert all(r["config_snapshot"] == written[0]["config_snapshot"] for r in resolved)
        kept = verify_trail(live, keep_records=True).records
        assert all("generation" in r["config_snapshot"] for r in kept)

    def test_reference_without_a_snapshot_in_its_file_is_a_break(self, live):
        """Removing the full snapshot a reference needs is caught (it changes the hash too)."""
        write_sample_trail(live, 4)
        records = _lines(live)
        _dump(live, _rechain(records[1:], prev=records[0]["hash"]))
        archive = live.with_name("learning_audit.000000000000.jsonl")
        _dump(archive, records[:1])
        report = verify_trail(live)
        assert any("names no full snapshot" in str(item) for item in report.breaks)


class TestCli:
    def test_verify_with_a_key_prints_the_mode_and_the_checkpoint(self, live, monkeypatch):
        """`stratloop audit verify --key-env` checks the HMAC chain and says so."""
        _write(live, 4)
        monkeypatch.setenv(VAR, KEY_A)
        result = CliRunner().invoke(app, ["audit", "verify", str(live), "--key-env", VAR])
        assert result.exit_code == 0, result.output
        assert "HMAC-SHA256" in result.output
        assert "last checkpoint: seq 3" in result.output
        _dump(live, _rechain(_lines(live)))
        result = CliRunner().invoke(app, ["audit", "verify", str(live), "--key-env", VAR])
        assert result.exit_code == 1


class TestAnchorsOutsideTheMachine:
    def test_checkpoint_command_prints_the_last_checkpoint(self, live):
        """`stratloop audit checkpoint` prints one JSON line for a log shipper or cron job."""
        runner = CliRunner()
        assert runner.invoke(app, ["audit", "checkpoint", str(live)]).exit_code == 2
        written = _write(live, 3)
        result = runner.invoke(app, ["audit", "checkpoint", str(live)])
        assert result.exit_code == 0, result.output
        printed = json.loads(result.stdout)
        assert (printed["seq"], printed["hash"]) == (2, written[-1]["hash"])
        assert printed["key_id"] == written[-1]["key_id"]

    def test_metrics_expose_the_last_signed_checkpoint(self, live):
        """/metrics carries seq, time, hash, key id and signature for Prometheus to keep."""
        from prometheus_client.parser import (  # noqa: PLC0415 - only this test parses /metrics
            text_string_to_metric_families,
        )

        from stratloop.config.models import StratloopConfig  # noqa: PLC0415
        from stratloop.flags import EnvFlagSource  # noqa: PLC0415
        from stratloop.service import LoopService  # noqa: PLC0415
        from stratloop.service.health import HealthSnapshot, judge_metrics  # noqa: PLC0415
        from stratloop.service.metrics import render_metrics  # noqa: PLC0415

        written = _write(live, 3)
        config = StratloopConfig.model_validate(
            {"version": 1, "generation": {"use_factor_graph": True, "innovation_rate": 0}}
        )
        state = LoopService(config, EnvFlagSource({})).state()
        snapshot = HealthSnapshot("healthy", None, None, state, (), judge_metrics({}))
        text = render_metrics(snapshot, last_checkpoint(live)).decode()
        samples = {
            sample.name: sample
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        assert samples["stratloop_audit_checkpoint_seq"].value == 2
        info = samples["stratloop_audit_checkpoint_info"].labels
        assert info["hash"] == written[-1]["hash"]
        assert info["key_id"] == written[-1]["key_id"]
        assert len(info["sig"]) == 64
        assert samples["stratloop_audit_checkpoint_timestamp_seconds"].value > 0


class TestTrailsFromBefore:
    def test_a_trail_with_the_snapshot_in_every_record_still_verifies(self):
        """The run_v1 fixture (full snapshot inline, unkeyed, no checkpoint log) is clean."""
        trail = Path(__file__).parents[1] / "fixtures" / "run_v1" / "audit" / "learning_audit.jsonl"
        report = verify_trail(trail, keep_records=True)
        assert report.ok, report.breaks
        assert report.trails[0].mode.startswith("SHA-256")
        assert report.trails[0].last_checkpoint is None
        assert all("generation" in record["config_snapshot"] for record in report.records)
