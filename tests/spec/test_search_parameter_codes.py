"""Custom SearchParameter codes: only names the query string and the generated extractors can carry."""

from __future__ import annotations

import pytest

from fhir_server.errors import FhirError
from fhir_server.spec.search_parameters import Registry

SP = {"resourceType": "SearchParameter", "url": "http://example.org/sp/nickname", "base": ["Patient"],
      "type": "string", "expression": "Patient.name.given"}


@pytest.mark.parametrize("code", ["nickname\n", "nick name", "nick\nname", "1nick", "", "nick;name"])
def test_codes_other_than_letters_digits_dash_underscore_are_refused(code):
    with pytest.raises(FhirError) as refused:
        Registry().register({**SP, "code": code})
    assert refused.value.status == 400
    assert refused.value.issues[0].diagnostics == "invalid SearchParameter: code must be letters, digits, '-' or '_'"


@pytest.mark.parametrize("code", ["nickname", "nick-name", "nick_name2"])
def test_plain_codes_are_registered(code):
    registry = Registry()
    registry.register({**SP, "code": code})
    assert registry.get("Patient", code) is not None
