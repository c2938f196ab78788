"""The load generator's SCRAM client against the RFC 5802 and RFC 7677 test vectors, and its cache."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from benchmarks.loadgen.scram import SaslError, ScramCache, ScramClient, plain_message

# RFC 5802 section 5
SHA1_NONCE = "fyko+d2lbbFgONRv9qkxdawL"
SHA1_SERVER_FIRST = b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
SHA1_CLIENT_FINAL = b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
SHA1_SERVER_FINAL = b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="

# RFC 7677 section 3
SHA256_NONCE = "rOprNGfwEbeRWgbNEkqO"
SHA256_SERVER_FIRST = (
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
SHA256_CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
SHA256_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_scram_sha1_vector() -> None:
    client = ScramClient("SCRAM-SHA-1", "user", "pencil", nonce=SHA1_NONCE)
    assert client.first() == b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
    assert client.final(SHA1_SERVER_FIRST) == SHA1_CLIENT_FINAL
    client.verify(SHA1_SERVER_FINAL)


def test_scram_sha256_vector() -> None:
    client = ScramClient("SCRAM-SHA-256", "user", "pencil", nonce=SHA256_NONCE)
    assert client.first() == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    assert client.final(SHA256_SERVER_FIRST) == SHA256_CLIENT_FINAL
    client.verify(SHA256_SERVER_FINAL)


def test_wrong_server_signature_is_refused() -> None:
    client = ScramClient("SCRAM-SHA-1", "user", "pencil", nonce=SHA1_NONCE)
    client.final(SHA1_SERVER_FIRST)
    with pytest.raises(SaslError, match="wrong server signature"):
        client.verify(b"v=" + base64.b64encode(b"\0" * 20))
    with pytest.raises(SaslError, match="server error"):
        client.verify(b"e=invalid-proof")


def test_server_nonce_must_extend_ours() -> None:
    client = ScramClient("SCRAM-SHA-1", "user", "pencil", nonce="abc")
    with pytest.raises(SaslError, match="nonce"):
        client.final(b"r=xyz123,s=QSXCR+Q6sek8bf92,i=4096")
    with pytest.raises(SaslError, match="nonce"):
        client.final(b"r=abc,s=QSXCR+Q6sek8bf92,i=4096")


def test_username_is_escaped() -> None:
    client = ScramClient("SCRAM-SHA-1", "a=b,c", "x", nonce="n")
    assert client.first() == b"n,,n=a=3Db=2Cc,r=n"


def test_cache_computes_pbkdf2_once_and_persists(tmp_path: Path) -> None:
    cache = ScramCache()
    for _ in range(3):
        client = ScramClient("SCRAM-SHA-1", "user", "pencil", cache, nonce=SHA1_NONCE)
        assert client.final(SHA1_SERVER_FIRST) == SHA1_CLIENT_FINAL
    assert cache.misses == 1
    assert len(cache) == 1
    path = tmp_path / "scram.json"
    cache.save(path)
    assert len(json.loads(path.read_text())) == 1

    loaded = ScramCache()
    loaded.load(path)
    client = ScramClient("SCRAM-SHA-1", "user", "pencil", loaded, nonce=SHA1_NONCE)
    assert client.final(SHA1_SERVER_FIRST) == SHA1_CLIENT_FINAL
    client.verify(SHA1_SERVER_FINAL)
    assert loaded.misses == 0


def test_cache_ignores_missing_or_bad_files(tmp_path: Path) -> None:
    cache = ScramCache()
    cache.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    cache.load(tmp_path / "bad.json")
    (tmp_path / "odd.json").write_text(json.dumps({"k": "!!not base64!!", "n": 3}))
    cache.load(tmp_path / "odd.json")
    assert len(cache) == 0


def test_plain_message() -> None:
    assert plain_message("user", "pencil") == b"\0user\0pencil"
