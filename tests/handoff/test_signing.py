"""Detached signatures, page tokens, pseudonyms and code presentation: the pure parts of disclosure."""

from __future__ import annotations

from dataclasses import replace

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.errors import InvalidInput
from gateway.handoff.presentation import present_code, subject_id
from gateway.handoff.records import decode_page_token, encode_page_token
from gateway.handoff.signing import canonical_json, sign_detached, verify_detached
from gateway.keyring import KeyRing, KeySet

BODY = canonical_json({"records": [{"name": "王子涵", "code": "L410102201609011234"}]})


def test_a_signature_verifies_against_the_published_keys_and_only_for_the_bytes_signed(
    keyring: KeyRing,
) -> None:
    signature = sign_detached(keyring, BODY, audience="client-1")
    header = verify_detached(keyring.jwks(), signature, BODY)
    assert header["kid"] == keyring.statement_kid and header["aud"] == "client-1" and header["b64"] is False
    assert signature.split(".")[1] == ""  # detached: the payload is not in the token
    with pytest.raises(jwt.InvalidSignatureError):
        verify_detached(keyring.jwks(), signature, BODY.replace("王".encode(), "汪".encode()))


def test_a_signature_by_another_key_does_not_verify(keyring: KeyRing) -> None:
    other = replace(keyring, statement_keys=KeySet((ec.generate_private_key(ec.SECP256R1()),)))
    forged = sign_detached(other, BODY)
    with pytest.raises((KeyError, jwt.PyJWTError)):
        verify_detached(keyring.jwks(), forged, BODY)


def test_page_tokens_round_trip_for_their_client_only(keyring: KeyRing) -> None:
    token = encode_page_token(keyring, "client-1", 42)
    assert decode_page_token(keyring, "client-1", token) == 42
    assert decode_page_token(keyring, "client-1", None) == 0
    for bad_client, bad_token in (
        ("client-2", token),
        ("client-1", token[:-2] + ("AA" if token[-2:] != "AA" else "BB")),
        ("client-1", "not a token"),
        ("client-1", "e30"),
    ):
        with pytest.raises(InvalidInput):
            decode_page_token(keyring, bad_client, bad_token)


def test_subject_ids_are_stable_per_client_and_differ_between_clients(keyring: KeyRing) -> None:
    assert subject_id(keyring, "a", 7) == subject_id(keyring, "a", 7)
    assert subject_id(keyring, "a", 7) != subject_id(keyring, "b", 7)
    assert subject_id(keyring, "a", 7) != subject_id(keyring, "a", 8)


@pytest.mark.parametrize(
    ("code", "identity", "shown"),
    [
        ("G410102201609010017", False, "G410102********0017"),
        ("G410102201609010017", True, "G410102201609010017"),
        ("J41010220160901001X", False, "J41010220160901001X"),
        ("L410102201609011234", False, "L410102201609011234"),
        (None, False, None),
    ],
)
def test_only_codes_that_carry_an_id_number_are_masked(
    code: str | None, identity: bool, shown: str | None
) -> None:
    assert present_code(code, identity) == shown
