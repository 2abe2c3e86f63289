"""The redactor against the labelled corpus: every secret gone, every look-alike kept as it was.

A secret counts as gone only when no readable fragment of it is left (half its length, at
least 6 characters), so a rule that stops part-way through a token fails here too.
"""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from prtrace_core.redact import Redactor
from tests.fixtures.secrets_corpus import (
    LOOKALIKES,
    RECORDS,
    SECRETS,
    WHERE,
    Record,
    github_checksum_ok,
    leaked,
)

REDACTOR = Redactor()


@pytest.mark.parametrize("record", SECRETS, ids=lambda r: r.id)
def test_every_secret_is_gone(record: Record) -> None:
    redacted = REDACTOR.text(record.text)
    left = leaked(record, redacted)
    assert not left, f"{record.id} ({record.family}, {record.where}): still readable {left}\nredacted text:\n{redacted}"


@pytest.mark.parametrize("record", LOOKALIKES, ids=lambda r: r.id)
def test_every_look_alike_is_kept_verbatim(record: Record) -> None:
    redacted = REDACTOR.text(record.text)
    assert redacted == record.text, f"{record.id} ({record.family}, {record.where}) was changed:\n{redacted}"


def test_payloads_are_redacted_string_by_string_as_text_is() -> None:
    texts = [record.text for record in RECORDS]
    payload = {"command": texts[0], "nested": {"items": texts[1:], "count": len(texts), "ok": True, "none": None}}
    expected = [REDACTOR.text(text) for text in texts]
    assert REDACTOR.value(payload) == {
        "command": expected[0],
        "nested": {"items": expected[1:], "count": len(texts), "ok": True, "none": None},
    }


# The corpus itself: well-formed, so a failure above is the redactor's and not the data's.


def test_the_corpus_is_large_and_labelled() -> None:
    ids = [record.id for record in RECORDS]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    assert len(SECRETS) >= 70 and len(LOOKALIKES) >= 45
    assert all(record.where in WHERE for record in RECORDS)
    assert all(not record.secrets for record in LOOKALIKES)


@pytest.mark.parametrize("record", SECRETS, ids=lambda r: r.id)
def test_each_secret_is_in_its_text_and_survives_a_shell_and_json(record: Record) -> None:
    for secret in record.secrets:
        assert secret in record.text
        # Typed in a shell, passed through argv and stored as JSON, a secret keeps its bytes.
        assert not set(secret) & set("'\"\\\t"), secret
        assert len(secret.strip()) >= 6


def test_github_and_npm_tokens_carry_a_valid_checksum() -> None:
    tokens = [
        secret
        for record in SECRETS
        for secret in record.secrets
        if secret[:4] in {"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "npm_"}
    ]
    assert len(tokens) >= 10
    assert all(len(token) == 40 and github_checksum_ok(token) for token in tokens), tokens
    flipped = tokens[0][:-1] + ("A" if tokens[0][-1] != "A" else "B")
    assert not github_checksum_ok(flipped)


def test_the_corpus_is_the_same_on_every_run() -> None:
    # Seeded by string (sha512 of the seed), so neither PYTHONHASHSEED nor the Python build
    # changes it; pinned by digest, so the source holds no token a scanner would flag.
    first = SECRETS[0].secrets[0]
    assert hashlib.sha256(first.encode()).hexdigest()[:16] == "08b22359417d1778"
