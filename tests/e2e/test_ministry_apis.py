"""The APIs the Ministry's pages need (issue 15): every form's versions, the code lists, the
survey lists of every ministry and province, sent notices with their delivery. Scope-checked like
the rest: an owner sees its own list and progress, never a sibling's; a sender its own notices."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_every_forms_versions_and_the_code_lists(client, district):
    auth = district["a_auth"]  # anyone signed in reads what it may already fetch one by one
    versions = client.forms.get("/definitions/versions", headers=auth).json()
    hc = [v for v in versions if v["form_code"] == "1/HC-TB"]
    assert [v["version"] for v in hc] == [1, 2] and [v["latest"] for v in hc] == [False, True]
    assert hc[1]["fields"] == 37 and hc[1]["rules"] == 7
    one = client.forms.get("/definitions/versions", params={"form_code": "XHH-CCHC-BO"}, headers=auth).json()
    assert [v["form_code"] for v in one] == ["XHH-CCHC-BO"]
    lists = {c["name"]: c for c in client.forms.get("/codelists", headers=auth).json()}
    assert lists["vsic2018"]["levels"]["1"] == 21 and lists["vcpa2018"]["pattern"] and lists["units"]["dynamic"]
    assert client.forms.get("/codelists").status_code == 401
