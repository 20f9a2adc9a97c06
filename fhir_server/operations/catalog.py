"""Every ``$operation`` module, imported once so that each registers itself in the registry."""

from fhir_server.operations import export  # noqa: F401 - $export, $export-poll-status, $export-file
from fhir_server.operations import reindex  # noqa: F401 - $reindex, $reindex-status
