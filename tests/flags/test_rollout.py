from __future__ import annotations

import socket

from hypothesis import given
from hypothesis import strategies as st

from stratloop.flags import bucket, in_rollout, instance_id


class TestInRollout:
    @given(st.text(max_size=20), st.floats(0, 100), st.floats(0, 100))
    def test_monotone_in_percentage(self, key, a, b):
        """Raising the percentage only adds instances: in at a% implies in at any b >= a."""
        low, high = sorted((a, b))
        if in_rollout("PHASE2_PYDANTIC_VALIDATION", key, low):
            assert in_rollout("PHASE2_PYDANTIC_VALIDATION", key, high)

    @given(st.text(max_size=20))
    def test_zero_is_nobody_and_hundred_is_everybody(self, key):
        """0% includes nobody and 100% everybody."""
        assert not in_rollout("F", key, 0.0)
        assert in_rollout("F", key, 100.0)

    def test_bucket_is_a_known_sha256_value(self):
        """The bucket is a pure function of flag name and key (stable across restarts)."""
        assert bucket("PHASE2_PYDANTIC_VALIDATION", "host-a") == bucket(
            "PHASE2_PYDANTIC_VALIDATION", "host-a"
        )
        assert bucket("PHASE2_PYDANTIC_VALIDATION", "host-a") != bucket(
            "PHASE3_STRATEGY_PATTERN", "host-a"
        )

    def test_ten_percent_selects_about_ten_percent(self):
        """Over 4000 keys a 10% rollout includes between 8% and 12%."""
        included = sum(in_rollout("PHASE2_PYDANTIC_VALIDATION", f"i{i}", 10.0) for i in range(4000))
        assert 320 <= included <= 480


class TestInstanceId:
    def test_variable_wins_over_hostname(self):
        """STRATLOOP_INSTANCE_ID, when set, is the instance id."""
        assert instance_id({"STRATLOOP_INSTANCE_ID": "worker-7"}) == "worker-7"

    def test_falls_back_to_hostname(self):
        """Without the variable the host name is used (stable across restarts)."""
        assert instance_id({}) == socket.gethostname()
