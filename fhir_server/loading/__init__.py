"""``fhir-server load``: ingest Bundles, single resources, ndjson files and archives of them.

How the pieces fit:

* :mod:`.sources` walks the paths (directories recursively, ``.tgz``/``.tar.gz`` archives member
  by member) and yields one :class:`~.sources.Unit` per input file;
* :mod:`.bundles` turns a file's bytes into the Bundles to post (a transaction or batch Bundle as
  it is; the resources of a collection/searchset Bundle, of an ndjson file or a single resource
  file as batch Bundles of ``PUT Type/id``, or ``POST Type`` for resources without an id);
* :mod:`.targets` posts them in-process through the router (:func:`fhir_server.api.router.dispatch`)
  or over HTTP to a running server (http://hl7.org/fhir/R4/http.html#transaction);
* :mod:`.outcomes` reads the answers into per-entry failures, :mod:`.summary` adds them up;
* :mod:`.journal` records every answered request, so a rerun skips what is already in.

Resume without duplicates. The journal (``.fhir-load-journal.jsonl``) is appended and flushed
after each request the server has answered, keyed by the file (path, or ``archive!member``), a
hash of its path, size and modification time, and the target (server URL or database). A rerun
skips files recorded as complete and, inside a multi-request file (ndjson in chunks), the chunks
already answered. Inside one request, replay safety comes from the server: a transaction is
atomic (a Synthea patient file, all ``POST`` entries, is either wholly in or not at all), and it
carries a ``Bundle.identifier`` (the file's own, else one derived from its bytes) so the server
applies it once: a transaction the server committed but whose answer never reached the journal
(the loader killed while it was in flight) is answered from the server's record when it is sent
again, not applied twice (:mod:`fhir_server.interactions.replay`). ``PUT`` with an id is
idempotent (a replay writes the same content again). What remains: resources without an id in
ndjson or collection files are posted as ``POST`` in batches, which a replay after such a kill
would create again. A first Ctrl-C stops taking new files and lets the requests in flight finish
and be journaled; a second one aborts at once.
"""
