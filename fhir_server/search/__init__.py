"""The pure core of FHIR search (http://hl7.org/fhir/R4/search.html): no database code here.

Write time: :func:`fhir_server.search.index.extract_index` (resource -> index fields stored beside
it; indexes to create: :data:`fhir_server.search.index_keys.INDEX_KEYS`).

Read time::

    parsed = parse.parse_search("Observation", [("subject:Patient.name", "smith"), ("_count", "10")])
    plan = plan.translate(parsed, translate.Context(expand=..., base_urls=(base,)))
    flt = await plan.resolve(run)   # chains / _has; run: async (type, filter, projection) -> docs
    docs = [d for d in db["Observation"].find(flt).sort(plan.sort) if plan.post_filter(d)]

Modules: ``normalize`` (folding, implicit ranges), ``fhirpath`` (expression compiler),
``index_values``/``index`` (extraction), ``model`` (ParsedSearch), ``values``/``parse`` (query
parsing), ``conditions``/``translate`` (filters, one function per parameter type), ``plan``
(joins, sort, includes), ``geo`` (near), ``capability`` (CapabilityStatement search part).
"""
