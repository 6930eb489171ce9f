"""Signal fingerprints: a rank sample of the train window, compared by correlation."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratloop.errors import RunError
from stratloop.factors.fingerprint import (
    MIN_CELLS,
    SAMPLE_ASSETS,
    SAMPLE_DATES,
    FingerprintBank,
    FingerprintSample,
    Similar,
    encode_codes,
    fingerprint_codes,
)

_RNG = np.random.default_rng(3)
_SIGNAL = _RNG.normal(size=(500, 20))
_SAMPLE = FingerprintSample.of(20, 350, warm_up=60)


def _similar(first: np.ndarray, second: np.ndarray, rule: str = "r") -> float | None:
    bank = FingerprintBank()
    bank.add(1, rule, _SAMPLE.take(first))
    found = bank.most_similar(rule, _SAMPLE.take(second))
    return None if found is None else found.correlation


class TestFingerprintSample:
    """Which cells a fingerprint samples."""

    def test_the_sample_stays_inside_the_train_window_after_the_warm_up(self):
        """Rows lie in [warm_up, train_stop): nothing after the split is read."""
        assert _SAMPLE.rows.min() == 60
        assert _SAMPLE.rows.max() == 349
        assert len(_SAMPLE.rows) == SAMPLE_DATES

    def test_a_wide_panel_samples_a_bounded_number_of_assets(self):
        """Three thousand assets: at most SAMPLE_DATES x SAMPLE_ASSETS cells."""
        sample = FingerprintSample.of(3000, 2000, warm_up=252)
        assert len(sample.columns) == SAMPLE_ASSETS
        assert sample.cells == SAMPLE_DATES * SAMPLE_ASSETS

    def test_data_after_the_split_does_not_change_the_fingerprint(self):
        """Changing every row from the split on leaves the fingerprint as it was."""
        changed = _SIGNAL.copy()
        changed[350:] = _RNG.normal(size=changed[350:].shape)
        assert _SAMPLE.take(changed) == _SAMPLE.take(_SIGNAL)

    def test_the_warm_up_is_at_most_half_the_train_window(self):
        """A window longer than the train data still leaves rows to sample."""
        sample = FingerprintSample.of(5, 100, warm_up=252)
        assert sample.rows.min() == 50


class TestFingerprintBank:
    """Near-duplicate detection by rank correlation."""

    def test_a_monotone_transform_of_a_signal_is_the_same_signal(self):
        """Ranks ignore scale and monotone transforms: correlation 1."""
        assert _similar(_SIGNAL, 3 * _SIGNAL + 1) == pytest.approx(1.0, abs=1e-6)
        assert _similar(_SIGNAL, np.exp(_SIGNAL)) == pytest.approx(1.0, abs=1e-6)

    def test_the_opposite_signal_is_anti_correlated(self):
        """Going long what the other shorts is a different strategy: correlation -1."""
        assert _similar(_SIGNAL, -_SIGNAL) == pytest.approx(-1.0, abs=1e-3)

    def test_independent_signals_are_uncorrelated(self):
        """Two independent signals correlate near zero."""
        other = _RNG.normal(size=_SIGNAL.shape)
        assert abs(_similar(_SIGNAL, other)) < 0.15

    def test_a_slightly_perturbed_signal_is_highly_correlated(self):
        """A little noise keeps the correlation high (the near-duplicate case)."""
        noisy = _SIGNAL + 0.1 * _RNG.normal(size=_SIGNAL.shape)
        assert _similar(_SIGNAL, noisy) > 0.95

    def test_missing_values_count_at_the_mean(self):
        """A signal defined on half the assets still matches itself on that half."""
        half = _SIGNAL.copy()
        half[:, ::2] = np.nan
        assert _similar(half, half) == pytest.approx(1.0, abs=1e-6)

    def test_a_fingerprint_with_too_few_values_is_not_compared(self):
        """An almost empty signal has no meaningful correlation: None, never redundant."""
        empty = np.full_like(_SIGNAL, np.nan)
        empty[_SAMPLE.rows[0], : MIN_CELLS // 2] = 1.0
        assert _similar(_SIGNAL, empty) is None
        assert _similar(empty, _SIGNAL) is None

    def test_only_the_same_trading_rule_is_compared(self):
        """The same signal under another rule is no duplicate."""
        bank = FingerprintBank()
        bank.add(1, "top5", _SAMPLE.take(_SIGNAL))
        assert bank.most_similar("long_short", _SAMPLE.take(_SIGNAL)) is None

    def test_the_most_similar_of_many_is_found(self):
        """Among many stored fingerprints, the one nearest is named with its iteration."""
        bank = FingerprintBank()
        for iteration in range(50):
            bank.add(iteration, "r", _SAMPLE.take(_RNG.normal(size=_SIGNAL.shape)))
        bank.add(77, "r", _SAMPLE.take(_SIGNAL))
        found = bank.most_similar("r", _SAMPLE.take(2 * _SIGNAL))
        assert found is not None
        assert found.iteration == 77
        assert len(bank) == 51


class TestScreen:
    """A screen rejects only what the bank it was taken from, grown since, finds redundant."""

    def test_what_a_screen_rejects_the_grown_bank_finds_redundant(self):
        """Signals at every distance from the stored ones: rejected means correlated > threshold."""
        rng = np.random.default_rng(11)
        stored = [rng.normal(size=_SIGNAL.shape) for _ in range(20)]
        bank = FingerprintBank()
        for iteration, signal in enumerate(stored):
            bank.add(iteration, "r", _SAMPLE.take(signal))
        screen = bank.screen("r", 0.9)
        assert screen is not None
        assert bank.screen("other rule", 0.9) is None
        for iteration in range(20, 40):
            bank.add(iteration, "r", _SAMPLE.take(rng.normal(size=_SIGNAL.shape)))
        rejected = 0
        for noise in np.linspace(0.0, 1.0, 41):
            base = stored[int(noise * 19)]
            fingerprint = _SAMPLE.take(base + noise * rng.normal(size=base.shape))
            similar = bank.most_similar("r", fingerprint)
            assert similar is not None
            if screen.rejects(fingerprint):
                rejected += 1
                assert similar.correlation > 0.9
            else:
                assert similar.correlation <= 0.9 + 1e-5
        assert 0 < rejected < 41


_CODES = st.integers(0, 64).flatmap(
    lambda rows: st.integers(0, SAMPLE_ASSETS).flatmap(
        lambda columns: st.lists(
            st.integers(0, 255), min_size=rows * columns, max_size=rows * columns
        ).map(lambda cells: np.array(cells, dtype=np.uint8).reshape(rows, columns))
    )
)


class TestFingerprintText:
    """The text a fingerprint is kept as: compact, exact, and the older coding still read."""

    @settings(max_examples=200, deadline=None)
    @given(_CODES)
    def test_any_codes_decode_to_themselves(self, codes):
        """Ties, gaps, missing cells, any shape up to the sample's: decoding is exact."""
        assert np.array_equal(fingerprint_codes(encode_codes(codes)), codes.reshape(-1))

    @settings(max_examples=50, deadline=None)
    @given(st.integers(2, SAMPLE_ASSETS), st.floats(0.0, 0.9), st.integers(0, 2**32 - 1))
    def test_rank_rows_decode_to_themselves(self, assets, missing, seed):
        """Fingerprints of real ranks (the plain rows) round-trip, with cells missing."""
        rng = np.random.default_rng(seed)
        signal = rng.normal(size=(400, assets))
        signal[rng.random(signal.shape) < missing] = np.nan
        sample = FingerprintSample.of(assets, 300, warm_up=20)
        text = sample.take(signal)
        codes = fingerprint_codes(text)
        assert np.array_equal(fingerprint_codes(encode_codes(codes.reshape(-1, assets))), codes)

    @pytest.mark.parametrize("first_digit", [0, 1])
    def test_rows_of_21_values_whose_order_needs_nine_bytes(self, first_digit):
        """21! > 2**64: a row of 21 ranks takes nine bytes even when its high part is 0."""
        codes = np.zeros((2, 24), dtype=np.uint8)
        ranks = np.arange(1, 22)[::-1].copy() if first_digit else np.arange(1, 22)
        codes[:, :21] = (1 + np.rint(ranks / 21 * 254)).astype(np.uint8)
        assert np.array_equal(fingerprint_codes(encode_codes(codes)), codes.reshape(-1))

    def test_the_text_is_about_half_the_older_coding(self):
        """20 assets: the order of each row instead of its codes (61 bits instead of 160)."""
        text = _SAMPLE.take(_SIGNAL)
        older = base64.b64encode(fingerprint_codes(text).tobytes()).decode("ascii")
        assert text.startswith("p1:")
        assert len(text) < 0.6 * len(older)

    def test_a_fingerprint_in_the_older_coding_is_the_same_fingerprint(self):
        """Histories written before keep base64 of the codes: same codes, correlation 1."""
        text = _SAMPLE.take(_SIGNAL)
        older = base64.b64encode(fingerprint_codes(text).tobytes()).decode("ascii")
        assert np.array_equal(fingerprint_codes(older), fingerprint_codes(text))
        bank = FingerprintBank()
        bank.add(3, "r", older)
        found = bank.most_similar("r", text)
        assert found == Similar(3, pytest.approx(1.0, abs=1e-6))

    @pytest.mark.parametrize(
        "payload",
        [
            b"\x00\x01",  # cut inside the header
            b"\x00\x01\x00\x02\xc0\x80",  # no order for its row
            b"\x00\x01\x00\x02\xc0\x80\x02",  # an order of two cells that is not below 2!
            b"\x00\x01\x00\x02\xc0\x80\x01\x00",  # a byte after the last row
            b"\x00\x01\x00\x40\xc0",  # more columns than a fingerprint samples
        ],
    )
    def test_a_damaged_fingerprint_is_a_run_error_naming_it(self, payload):
        """A payload that does not decode says so, with the text and the fix."""
        text = "p1:" + base64.b64encode(payload).decode("ascii")
        with pytest.raises(RunError, match=r"cannot be decoded.*stratloop repair"):
            fingerprint_codes(text)

    @pytest.mark.parametrize("text", ["p1:not base64!", "not base64!"])
    def test_text_that_is_not_base64_is_a_run_error(self, text):
        """Either coding: characters base64 does not have are a RunError, not a crash."""
        with pytest.raises(RunError, match=r"cannot be decoded.*stratloop repair"):
            fingerprint_codes(text)
