"""The table of sources an exporter runs with: a value, built once and handed down.

The CLI builds it from :data:`exporter.sources.builtin.BUILTIN` (a test builds
its own), :func:`exporter.config.load_config` puts it on the ``Config``, and the poller, the exposition, the
landing page and the summary take it from there or from their caller. Nothing looks a source up in a global:
importing a core module loads no source, so the rendering modules stay free of I/O by construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from exporter.dora.metrics import SPECS as DORA_SPECS
from exporter.errors import ErrorCodes
from exporter.metrics import CORE_SPECS, MetricSpec, throttled_spec
from exporter.regions import RegionTable, region_table
from exporter.sources.base import Source

__all__ = ["SourceTable", "UnknownSourceError"]


class UnknownSourceError(LookupError):
    """No source of the table handles this kind of target."""


@dataclass(frozen=True, slots=True, init=False)
class SourceTable:
    """Sources in order (the body order of their families), each by its unique name."""

    sources: tuple[Source, ...]
    _by_name: dict[str, Source] = field(init=False, repr=False, compare=False)

    def __init__(self, sources: Iterable[Source]) -> None:
        sources = tuple(sources)
        by_name: dict[str, Source] = {}
        for source in sources:
            if source.name in by_name:
                raise ValueError(f"two sources are named {source.name!r}")
            by_name[source.name] = source
        object.__setattr__(self, "sources", sources)
        object.__setattr__(self, "_by_name", by_name)

    def __iter__(self) -> Iterator[Source]:
        return iter(self.sources)

    def __len__(self) -> int:
        return len(self.sources)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def plus(self, *more: Source) -> SourceTable:
        """This table with ``more`` sources after its own (a test's own source beside the built-in ones)."""
        return SourceTable((*self.sources, *more))

    def get(self, api: str) -> Source:
        """The source of targets of kind ``api``."""
        source = self._by_name.get(api)
        if source is None:
            names = ", ".join(self._by_name)
            raise UnknownSourceError(f"no source handles targets of kind {api!r} (known: {names})")
        return source

    def specs(self) -> tuple[MetricSpec, ...]:
        """Every family the exporter may serve, in body order: each source's job families, each source's
        run-history families, DORA's, then the exporter's own (the throttle counter's help naming how each API
        throttles)."""
        throttled = throttled_spec(tuple(source.throttling for source in self.sources if source.throttling))
        core = tuple(throttled if spec.name == throttled.name else spec for spec in CORE_SPECS)
        return (*(spec for source in self.sources for spec in source.job_specs),
                *(spec for source in self.sources for spec in source.history_specs), *DORA_SPECS, *core)

    def regions(self) -> RegionTable:
        """``{region: {api: url}}``: IAM's endpoints and each source's regional ones."""
        return region_table({source.name: source.regional_endpoints for source in self.sources
                             if source.regional_endpoints})

    def error_codes(self) -> dict[str, ErrorCodes]:
        """What each source's API means by its error codes, for the client."""
        return {source.name: ErrorCodes(source.throttle_codes, source.retryable_codes) for source in self.sources
                if source.throttle_codes or source.retryable_codes}
