"""Token signing keys come from a secret, with a key id and rotation (issue #11, item 3)."""

import asyncio

import pytest

from chassis.auth import TokenVerifier, Unauthenticated
from services.accounts.domain.model import Account
from services.accounts.tokens import SigningKeysMissing, TokenIssuer, load_signing_keys, new_signing_key

ACCOUNT = Account(
    id="a1", username="dv.x", unit_id="u1", role="reporting_unit", display_name="X", email=None, password_hash="h"
)


def issuer(pem: str) -> TokenIssuer:
    return TokenIssuer(load_signing_keys(pem), issuer="moha-accounts", audience="moha", ttl_seconds=900)


def verifier_from(jwks: dict) -> TokenVerifier:
    import jwt

    return TokenVerifier(
        None, issuer="moha-accounts", audience="moha", keys={k["kid"]: jwt.PyJWK(k).key for k in jwks["keys"]}
    )


def test_no_key_is_a_clear_refusal_to_start():
    for text in ("", "not a key", "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----"):
        with pytest.raises((SigningKeysMissing, ValueError)):
            load_signing_keys(text)
    with pytest.raises(SigningKeysMissing, match="TOKEN_SIGNING_KEYS"):
        load_signing_keys("")


def test_a_rotation_keeps_old_tokens_valid_until_the_old_key_is_dropped():
    old, new = new_signing_key(), new_signing_key()
    before = issuer(old)
    token_before, _ = before.issue(ACCOUNT)

    during = issuer(new + old)  # the new key signs; the old one is still published
    assert during.kid != before.kid
    assert [k["kid"] for k in during.jwks()["keys"]] == [during.kid, before.kid]
    token_during, _ = during.issue(ACCOUNT)
    check = verifier_from(during.jwks())
    for token in (token_before, token_during):
        assert asyncio.run(check.verify(token)).account_id == "a1"

    after = issuer(new)  # the old key's tokens have expired: it is dropped
    with pytest.raises(Unauthenticated):
        asyncio.run(verifier_from(after.jwks()).verify(token_before))
    assert asyncio.run(verifier_from(after.jwks()).verify(token_during)).account_id == "a1"


def test_the_key_set_publishes_no_private_part():
    published = issuer(new_signing_key()).jwks()["keys"][0]
    assert set(published) == {"kty", "crv", "x", "kid", "alg", "use"}
