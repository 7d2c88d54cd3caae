import pytest

from chassis.sealing import Sealer, SealError

PRIVATE, PUBLIC = Sealer.new_keypair()
VALUE = {"email": "a@nghean.gov.vn", "full_name": "Nguyễn Văn A", "link": "https://x/s/t"}


def test_the_public_key_seals_and_only_the_private_key_opens():
    sealed = Sealer(public_key=PUBLIC).seal(VALUE)
    assert "nghean" not in sealed and sealed.startswith("v1.")
    assert Sealer(private_key=PRIVATE).open(sealed) == VALUE
    with pytest.raises(SealError):
        Sealer(public_key=PUBLIC).open(sealed)  # forms cannot open what it sealed


def test_another_key_or_an_altered_value_does_not_open():
    sealed = Sealer(public_key=PUBLIC).seal(VALUE)
    other_private, _ = Sealer.new_keypair()
    with pytest.raises(SealError):
        Sealer(private_key=other_private).open(sealed)
    altered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(SealError):
        Sealer(private_key=PRIVATE).open(altered)
    with pytest.raises(SealError):
        Sealer(private_key=PRIVATE).open("v2.abc")


def test_each_sealing_differs_and_a_bad_key_is_refused():
    assert Sealer(public_key=PUBLIC).seal(VALUE) != Sealer(public_key=PUBLIC).seal(VALUE)
    with pytest.raises(SealError):
        Sealer(public_key="not-a-key")
