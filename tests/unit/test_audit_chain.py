"""The audit chain's rules without a store: one serialisation per content, a hash that covers
everything in an entry, links that name the first entry changed, removed or moved, and entries
that refuse what must never be kept for ever."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chassis.audit import GENESIS, AuditEntry, canonical, check_links, entry_hash, stored_time

AT = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)


def chain(n: int) -> list[dict]:
    docs, prev = [], GENESIS
    for seq in range(1, n + 1):
        doc = {
            "_id": seq,
            "prev": prev,
            "source": f"accounts:a{seq}:1",
            "at": stored_time(AT + timedelta(seconds=seq)),
            "correlation_id": None,
            **AuditEntry("login", actor_id=f"a{seq}", unit_lineage=["root"]).fields(),
        }
        doc["hash"] = entry_hash(doc)
        docs.append(doc)
        prev = doc["hash"]
    return docs


def test_the_serialisation_does_not_depend_on_key_order_or_the_stores_round_trip():
    one = {"b": 1, "a": {"y": [1, "x"], "x": None}, "at": AT}
    # Read back from the store: keys in another order, the time to the millisecond, in UTC.
    other = {
        "at": datetime(2026, 3, 1, 15, 30, 15, 123000, tzinfo=timezone(timedelta(hours=7))),
        "a": {"x": None, "y": [1, "x"]},
        "b": 1,
    }
    assert canonical(one) == canonical(other)
    assert canonical({"t": "Bộ Nội vụ"}) == '{"t":"Bộ Nội vụ"}'.encode()
    assert canonical({"at": datetime(2026, 3, 1)}) == b'{"at":"2026-03-01T00:00:00.000Z"}'  # naive is UTC


def test_an_entry_cannot_hold_what_the_serialisation_does_not_know():
    with pytest.raises(TypeError):
        canonical({"x": object()})
    # Refused when the action writes it, not when the relay chains it (where it would block others).
    with pytest.raises(TypeError):
        AuditEntry("export", details={"at": {1, 2}}).fields()


@given(
    st.sampled_from(
        [
            "_id",
            "prev",
            "source",
            "at",
            "action",
            "outcome",
            "actor_id",
            "target_id",
            "ip",
            "unit_lineage",
            "details",
            "correlation_id",
        ]
    )
)
def test_the_hash_covers_every_field_of_an_entry(key):
    doc = chain(1)[0]
    changed = {**doc, key: {"changed": True}}
    assert entry_hash(changed) != doc["hash"]


def test_an_intact_chain_is_intact():
    report = check_links(chain(5))
    assert report.intact and report.entries == 5 and report.head[0] == 5


def test_an_edited_entry_is_named():
    docs = chain(5)
    docs[2] = {**docs[2], "outcome": "ok", "actor_id": "someone-else"}
    assert check_links(docs).broken.seq == 3


def test_an_edited_entry_whose_hash_was_recomputed_breaks_the_next_link():
    docs = chain(5)
    docs[2] = {**docs[2], "actor_id": "someone-else"}
    docs[2]["hash"] = entry_hash(docs[2])
    broken = check_links(docs).broken
    assert broken.seq == 4 and "does not follow entry 3" in broken.problem


def test_a_removed_entry_is_named():
    docs = chain(5)
    del docs[1]
    broken = check_links(docs).broken
    assert broken.seq == 2 and "missing" in broken.problem


def test_two_entries_swapped_are_named():
    docs = chain(5)
    docs[1], docs[2] = {**docs[2], "_id": 2}, {**docs[1], "_id": 3}
    assert check_links(docs).broken.seq == 2


def test_an_entry_added_in_the_middle_is_named():
    docs = chain(5)
    forged = {**docs[1], "_id": 3, "prev": docs[1]["hash"], "actor_id": "forged"}
    forged["hash"] = entry_hash(forged)
    docs = [*docs[:2], forged, *[{**d, "_id": d["_id"] + 1} for d in docs[2:]]]
    assert check_links(docs).broken.seq == 4


def test_an_entry_refuses_secrets_and_personal_details():
    for key in ("password", "initial_password", "email", "display_name", "reason", "token", "body"):
        with pytest.raises(ValueError):
            AuditEntry("password_reset", details={key: "x"}).fields()
    assert AuditEntry("password_reset", details={"role": "reporting_unit"}).fields()["details"] == {
        "role": "reporting_unit"
    }
