"""extract_index on EVERY official R4 example, and the count of fhirpathpy fallbacks."""

import orjson
import pytest

from fhir_server.search.index import extract_index, fallback_expressions
from fhir_server.spec.official_package import package_dir
from fhir_server.spec.resource_types import RESOURCE_TYPES
from fhir_server.spec.search_parameters import params_for
from fhir_server.storage.embedded import in_stored_form


def examples():
    pkg = package_dir()
    if pkg is None:
        pytest.skip("official R4 examples package unavailable (npm registry unreachable)")
    for path in sorted(pkg.glob("*.json")):
        try:
            res = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError:
            continue
        if isinstance(res, dict) and res.get("resourceType") in RESOURCE_TYPES:
            yield path.name, res


def test_extract_index_on_every_official_example():
    """Every example is indexed, and its index is in the form MongoDB stores (it is handed to the
    store without a copy: naive UTC datetimes at millisecond precision, lists, no tuples)."""
    count, failures, not_stored_form, indexed_types = 0, [], [], set()
    for name, res in examples():
        count += 1
        try:
            idx = extract_index(res)
        except Exception as exc:  # noqa: BLE001 - collect them all
            failures.append(f"{name}: {exc!r}")
            continue
        if idx:
            indexed_types.add(res["resourceType"])
        if not in_stored_form(idx):
            not_stored_form.append(name)
    assert failures == []
    assert not_stored_form == []
    assert count > 5000
    assert len(indexed_types) > 120


def test_fallback_count():
    """Only the two MolecularSequence composites (``%resource``-style components) use fhirpathpy."""
    fallbacks = sorted((t, code) for t in RESOURCE_TYPES for code, _ in fallback_expressions(t))
    total = sum(1 for t in RESOURCE_TYPES for p in params_for(t).values() if p.indexed)
    print(f"{len(fallbacks)} of {total} (type, parameter) expressions fall back to fhirpathpy: {fallbacks}")
    assert fallbacks == [
        ("MolecularSequence", "chromosome-variant-coordinate"),
        ("MolecularSequence", "referenceseqid-variant-coordinate"),
    ]
