"""The pure core of FHIR search (http://hl7.org/fhir/R4/search.html): no database code here.

Write time: :func:`fhir_server.search.index.extract_index` (resource -> index fields stored beside
it; indexes to create: :data:`fhir_server.search.index_keys.INDEX_KEYS`). Absolute references to
this server's base URL (:func:`index_values.set_local_bases`, set at start-up) are indexed as local
``Type/id``; ``_sort``/``_sortd`` hold each parameter's smallest/largest value for ``_sort``.

Read time::

    parsed = parse.parse_search("Observation", [("subject:Patient.name", "smith"), ("_count", "10")])
    plan = plan.translate(parsed, translate.Context(expand=..., base_urls=(base,)))
    flt = await plan.resolve(run)   # chains / _has; run: async (type, filter, projection) -> docs
    docs = [d for d in db["Observation"].find(flt).sort(plan.sort) if plan.post_filter(d)]

Every alternative of a parameter is its own ``$elemMatch`` constraining ``p`` and an indexed key
(ORed at the top level, equal shapes merged into ``$in``), so each is served by an index
(tests/search/test_search_index_coverage.py checks it for the main resource types).

Modules: ``normalize`` (folding, implicit ranges, Soundex), ``fhirpath`` (expression compiler and
checker), ``index_values``/``index`` (extraction), ``model`` (ParsedSearch), ``values``/``parse``
(query parsing), ``conditions``/``translate`` (filters, one function per parameter type), ``plan``
(joins, sort, includes), ``geo`` (near), ``capability`` (CapabilityStatement search part).

The executor is :mod:`fhir_server.interactions.search` (paging snapshots, includes, Bundles);
custom SearchParameters are kept in the registry by
:mod:`fhir_server.interactions.search_parameter_sync`; ``$reindex`` is
:mod:`fhir_server.operations.reindex`.
"""
