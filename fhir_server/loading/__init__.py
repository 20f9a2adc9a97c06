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
atomic (a Synthea patient file, all ``POST`` entries, is either wholly in or not at all: a
rejected or interrupted transaction wrote nothing and is simply posted again), and ``PUT`` with an
id is idempotent (a replay writes the same content again). The one residual risk is a request the
server committed but whose answer never reached the journal (the process killed hard while it was
in flight over HTTP): on replay, its ``POST`` entries would be created twice. A first Ctrl-C
therefore stops taking new files and lets the requests in flight finish and be journaled.
"""
