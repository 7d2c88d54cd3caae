"""Forms' and personnel's APIs fuzzed from their own OpenAPI documents (schemathesis): valid and
invalid requests to every operation, signed in as a reporting unit (it can publish nothing global,
so the shared platform of the other tests is left alone). No request may give a 500, and every status must be one the
document lists. FUZZ_EXAMPLES sets the examples per operation and mode (default 15)."""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

pytestmark = pytest.mark.e2e
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
# Found by this test and fixed on another branch of issue 11 (a Campaign built inside the handler
# from an empty form code): drop the entry once that branch has landed.
FIXED_ELSEWHERE = {("POST /campaigns/periodic", 500)}
# What uvicorn answers, before any application code, to a request that is not valid HTTP: the
# negative mode sometimes sends a header name with `{` or `"`, or a value with DEL, in it.
NOT_HTTP = (400, b"Invalid HTTP request received.")


def test_fuzzing_forms_gives_no_server_error_and_no_undocumented_status(client, district):
    contract = client.forms.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(contract)
    base = str(client.forms.base_url)
    failures: list[tuple[str, int, str]] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:
        fuzz(operation, contract, base, district["a_auth"], failures)
    found = {(label, status) for label, status, _ in failures} - FIXED_ELSEWHERE
    assert found == set(), [f for f in failures if (f[0], f[1]) in found][:10]


def test_fuzzing_personnel_gives_no_server_error_and_no_undocumented_status(client, district):
    """Personnel's API fuzzed the same way, as a commune's account: writes land in its own unit or
    are refused, never a 500."""
    contract = client.personnel.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(contract)
    base = str(client.personnel.base_url)
    failures: list[tuple[str, int, str]] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 12
    for operation in operations:
        fuzz(operation, contract, base, district["a_auth"], failures)
    assert failures == [], failures[:10]


def fuzz(operation, contract, base, auth, failures):
    documented = set(contract["paths"][operation.path][operation.method.lower()]["responses"])
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def call(case):
        response = case.call(base_url=base, headers=auth, timeout=30)
        if (response.status_code, response.content) == NOT_HTTP:  # bytes: some bodies are not UTF-8
            return
        if response.status_code >= 500 or str(response.status_code) not in documented:
            failures.append((operation.label, response.status_code, response.content[:300].decode(errors="replace")))

    call()
