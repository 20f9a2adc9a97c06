"""``fhir-server``: serve, seed and load.

* ``fhir-server serve [--host H] [--port P] [--workers N] [--seed]``: run the HTTP server
  (embedded store unless ``FHIR_MONGODB_URI`` is set; ``--seed`` loads the demo data at start-up).
* ``fhir-server seed``: load the demo data into the configured MongoDB.
* ``fhir-server load PATH...``: ingest Bundles, single resources or ndjson files/directories.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from fhir_server.config import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fhir-server", description="FHIR R4 server for national virtual care")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default=os.environ.get("FHIR_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("FHIR_PORT", "8080")))
    serve.add_argument("--workers", type=int, default=1, help="worker processes (MongoDB only: the embedded store lives in one process)")
    serve.add_argument("--seed", action="store_true", help="load the demo data from seed_data/ at start-up")

    commands.add_parser("seed", help="load the demo data into the configured MongoDB")

    load = commands.add_parser("load", help="ingest Bundles, resources or ndjson files and directories")
    load.add_argument("paths", nargs="+")
    load.add_argument("--url", help="post to a running server at this base URL instead of writing to the store directly")
    load.add_argument("--concurrency", type=int, default=4, help="files in flight at once")
    load.add_argument("--journal", help="resume journal (default: .fhir-load-journal.jsonl next to the inputs)")
    load.add_argument("--no-journal", action="store_true", help="neither skip loaded files nor record them")
    load.add_argument("--batch-size", type=int, default=500, help="resources per batch Bundle for ndjson and collections")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    if args.command == "serve":
        return _serve(settings, args)
    if args.command == "seed":
        return asyncio.run(_seed(settings))
    from fhir_server.loading.cli import run_load

    return run_load(settings, args)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    if args.workers > 1 and settings.embedded:
        print("--workers > 1 needs FHIR_MONGODB_URI: the embedded store lives inside one process", file=sys.stderr)
        return 2
    if args.seed:
        os.environ["FHIR_SEED_ON_START"] = "1"
    uvicorn.run("fhir_server.main:app_from_env", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level="warning", access_log=False)
    return 0


async def _seed(settings: Settings) -> int:
    from fhir_server.demo import seed_store
    from fhir_server.main import open_repository

    if settings.embedded:
        print("seed writes to FHIR_MONGODB_URI; for the embedded store use `fhir-server serve --seed`", file=sys.stderr)
        return 2
    repository, client = await open_repository(settings)
    try:
        count = await seed_store(repository, settings)
    finally:
        if client is not None:
            await client.close()
    print(f"seeded {count} resources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
