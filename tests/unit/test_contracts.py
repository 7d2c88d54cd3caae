import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from moha_contracts import ALL_EVENTS, Envelope, FormApproved, FormSubmitted
from moha_contracts.asyncapi import render

ASYNCAPI = Path(__file__).resolve().parents[2] / "contracts" / "moha_contracts" / "asyncapi.json"


def test_asyncapi_document_matches_the_event_classes():
    assert ASYNCAPI.read_text() == render(), (
        "contracts/moha_contracts/asyncapi.json is stale: "
        "python -m moha_contracts.asyncapi > contracts/moha_contracts/asyncapi.json"
    )


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.__name__)
def test_routing_keys_follow_the_convention(event):
    assert re.fullmatch(
        r"(accounts|forms|approvals|notifications|personnel)\.[a-z_]+\.[a-z_]+\.v\d+", event.routing_key
    )
    assert event.event_type() == "vn.gov.moha." + event.routing_key


def test_envelope_round_trip_carries_cloudevents_attributes():
    event = FormApproved(
        task_id="t",
        submission_id="s",
        unit_id="u",
        revision=2,
        level=1,
        final=True,
        approved_by="a",
        approved_at="2026-04-01T08:00:00Z",
    )
    envelope = Envelope.wrap(event, correlation_id="req-1")
    parsed = Envelope.model_validate_json(envelope.model_dump_json())
    assert parsed.specversion == "1.0"
    assert parsed.source == "/moha/approvals"
    assert parsed.subject == "s"
    assert parsed.correlationid == "req-1"
    assert parsed.routing_key == "approvals.form.approved.v1"
    assert parsed.open(FormApproved) == event


def test_envelope_refuses_another_type_and_accepts_extensions_it_does_not_know():
    envelope = Envelope.wrap(
        FormApproved(
            task_id="t",
            submission_id="s",
            unit_id="u",
            revision=1,
            level=1,
            final=True,
            approved_by="a",
            approved_at="2026-04-01T08:00:00Z",
        )
    )
    with pytest.raises(ValueError):
        envelope.open(FormSubmitted)
    # CloudEvents: a consumer accepts extension attributes it does not know (a later minor version's).
    assert Envelope.model_validate({**envelope.model_dump(), "surprise": 1}) == envelope
    # What is required stays required.
    without = envelope.model_dump()
    del without["correlationid"]
    with pytest.raises(ValidationError):
        Envelope.model_validate(without)


def test_the_trace_context_travels_in_the_envelope_and_is_absent_when_traces_are_off():
    event = FormApproved(
        task_id="t",
        submission_id="s",
        unit_id="u",
        revision=1,
        level=1,
        final=True,
        approved_by="a",
        approved_at="2026-04-01T08:00:00Z",
    )
    traceparent = "00-" + "4bf92f3577b34da6a3ce929d0e0e4736" + "-" + "00f067aa0ba902b7" + "-01"
    traced = Envelope.wrap(event, correlation_id="c", traceparent=traceparent)
    assert Envelope.model_validate_json(traced.model_dump_json()).traceparent == traceparent
    # Off: the body is exactly a 1.1 envelope's (no null attribute a 1.1 subscriber would refuse).
    assert "traceparent" not in Envelope.wrap(event).model_dump_json()
    with pytest.raises(ValidationError):
        Envelope.wrap(event, traceparent="not-a-trace")


def test_a_consumer_of_an_older_minor_version_ignores_fields_added_since():
    # FormApproved 1.1 added campaign_id; data from a newer producer must still open.
    envelope = Envelope.wrap(
        FormApproved(
            task_id="t",
            submission_id="s",
            unit_id="u",
            revision=1,
            level=1,
            final=True,
            approved_by="a",
            approved_at="2026-04-01T08:00:00Z",
        )
    )
    newer = {**envelope.data, "added_in_1_9": "x"}
    assert FormApproved.model_validate(newer).task_id == "t"
    with pytest.raises(ValidationError):
        FormApproved.model_validate({k: v for k, v in envelope.data.items() if k != "task_id"})


def test_personnel_events_carry_ids_units_and_kinds_of_change_never_personal_details():
    """Decree 13/2023/NĐ-CP: subscribers, other ministries included, learn that a record changed,
    where and how, never a value of it (no name, date of birth, ID number, position or document)."""
    from moha_contracts import MoveApproved, MoveRequested, MoveReturned, RecordChanged

    allowed = {
        "record_id",
        "record_kind",
        "unit_id",
        "entry_id",
        "seq",
        "change",
        "process",
        "changed_at",
        "corrects",
        "timed",
        "working_days",
        "on_time",
        "move_id",
        "from_unit_id",
        "to_unit_id",
        "requested_by",
        "requested_at",
        "task_id",
        "decider_unit_id",
        "approved_by",
        "approved_at",
        "returned_by",
        "returned_at",
    }
    for event in (RecordChanged, MoveRequested, MoveApproved, MoveReturned):
        assert set(event.model_fields) <= allowed, event.__name__
