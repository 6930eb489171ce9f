"""Audit keys: key material parsing, key ids, and signed log entries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratloop.audit._keys import MIN_KEY_BYTES, entry_problem, keyring_from, sign_entry
from stratloop.errors import AuditKeyError

_TOKEN = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=MIN_KEY_BYTES, max_size=80
)


class TestKeyring:
    @given(
        tokens=st.lists(_TOKEN, min_size=1, max_size=4, unique=True), sep=st.sampled_from(" \n\t")
    )
    def test_every_token_is_a_key_and_the_last_signs(self, tokens, sep):
        """Whitespace-separated key material gives one key per token, the last signing."""
        ring = keyring_from(sep.join(tokens) + "\n", "test")
        assert [key.secret.decode() for key in ring.keys] == tokens
        assert ring.signing.secret.decode() == tokens[-1]
        assert len(set(ring.ids)) == len(tokens)
        assert keyring_from(" ".join(tokens), "again").ids == ring.ids

    @given(short=st.text(alphabet="abc", min_size=1, max_size=MIN_KEY_BYTES - 1))
    def test_a_short_key_is_refused(self, short):
        """A key under the minimum length is an error that says how long a key must be."""
        with pytest.raises(AuditKeyError, match=f"at least {MIN_KEY_BYTES} bytes"):
            keyring_from(short, "test")

    def test_the_id_never_reveals_the_key(self):
        """A key's id is a short fingerprint, and the key's repr hides the secret."""
        ring = keyring_from("s" * 40, "test")
        assert "s" * 8 not in ring.signing.id
        assert "s" * 8 not in repr(ring.signing)


class TestSignedEntries:
    @given(
        entry=st.dictionaries(
            st.text(min_size=1, max_size=8).filter(
                lambda k: k not in ("sig", "sig_from", "key_id")
            ),
            st.one_of(st.integers(), st.text(max_size=20), st.none()),
            max_size=6,
        ),
        tamper=st.text(min_size=1, max_size=8),
    )
    def test_a_signed_entry_verifies_and_any_change_breaks_it(self, entry, tamper):
        """The signature covers every field: adding or changing one is caught."""
        ring = keyring_from("k" * 64, "test")
        signed = sign_entry(entry, ring.signing)
        assert entry_problem(signed, ring) is None
        changed = {**signed, f"x{tamper}": 1}
        assert entry_problem(changed, ring) is not None

    def test_unsigned_and_foreign_entries_are_named(self):
        """An entry without a key id, or signed by a key not in the ring, is reported as such."""
        ring = keyring_from("k" * 64, "test")
        other = keyring_from("o" * 64, "other")
        assert "not signed" in (entry_problem({"seq": 1}, ring) or "")
        foreign = sign_entry({"seq": 1}, other.signing)
        assert "does not hold" in (entry_problem(foreign, ring) or "")
