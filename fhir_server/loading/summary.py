"""The totals of one load run and their printed form."""

from __future__ import annotations

from dataclasses import dataclass, field

from fhir_server.loading.outcomes import Failure

_SHOWN_FAILURES = 50


@dataclass
class Summary:
    """Counts for the run: files by outcome, resources in, failures with their reasons."""

    files: int = 0  # input files seen (ignored ones excluded)
    loaded: int = 0  # files completed in this run
    skipped: int = 0  # files already complete according to the journal
    incomplete: int = 0  # files with a request to post again next run
    ignored: int = 0  # files that are neither JSON nor ndjson
    resources: int = 0  # entries the server accepted in this run
    resumed: int = 0  # entries skipped inside partly loaded files
    seconds: float = 0.0
    interrupted: bool = False
    stop_reason: str = ""
    failures: list[Failure] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.resources / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and not self.interrupted and not self.incomplete

    def text(self) -> str:
        lines = [
            f"files: {self.files} ({self.loaded} loaded, {self.skipped} already loaded, "
            f"{self.incomplete} to retry, {self.ignored} ignored)",
            f"resources: {self.resources} in {self.seconds:.1f} s ({self.rate:.0f} resources/s)"
            + (f", {self.resumed} skipped as already loaded" if self.resumed else ""),
        ]
        if self.interrupted:
            lines.append(f"interrupted{': ' + self.stop_reason if self.stop_reason else ''}; run the same command again to resume")
        if self.failures:
            lines.append(f"failures: {len(self.failures)}")
            for failure in self.failures[:_SHOWN_FAILURES]:
                lines.append(f"  {failure.file} {failure.location}: {failure.status} {failure.reason}")
            if len(self.failures) > _SHOWN_FAILURES:
                lines.append(f"  ... and {len(self.failures) - _SHOWN_FAILURES} more (see the journal)")
        return "\n".join(lines)
