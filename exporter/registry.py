"""The registry of sources: the one place the core learns which CodeArts APIs the exporter reads.

The built-in sources (``exporter.sources.repo``, ``exporter.sources.build``, ``exporter.sources.pipeline``,
``exporter.sources.testplan``; each
module ``source`` holds its
``SOURCE``) are loaded by name the first time
the table is read, as plugins are: no core module imports a source. Another source is one folder with a
:class:`~exporter.sources.base.Source` and one :func:`register` call. A target whose kind no registered source
handles is an error (:class:`UnknownSourceError`), never handled as another kind.
"""

from __future__ import annotations

import importlib
import threading

from exporter.metrics import CORE_SPECS, MetricSpec
from exporter.sources.base import Source

__all__ = ["UnknownSourceError", "all_specs", "register", "registered", "source_for", "unregister"]

BUILTIN_SOURCES = (
    "exporter.sources.repo.source", "exporter.sources.build.source", "exporter.sources.pipeline.source",
    "exporter.sources.testplan.source",
)

_sources: dict[str, Source] = {}
_lock = threading.RLock()  # a source module may register() while the table loads it
_builtins_loaded = False


class UnknownSourceError(LookupError):
    """No registered source handles this kind of target."""


def register(source: Source) -> None:
    """Add a source; its name must be new (registering the same object again does nothing)."""
    with _lock:
        _register(source)


def _register(source: Source) -> None:
    known = _sources.get(source.name)
    if known is not None and known is not source:
        raise ValueError(f"a source named {source.name!r} is already registered")
    _sources[source.name] = source


def unregister(name: str) -> None:
    """Remove a source added with :func:`register` (for tests; the exporter never removes one)."""
    with _lock:
        _sources.pop(name, None)


def registered() -> tuple[Source, ...]:
    """Every source, the built-in ones first, in registration order."""
    global _builtins_loaded
    with _lock:
        if not _builtins_loaded:
            builtins = {name: importlib.import_module(name).SOURCE for name in BUILTIN_SOURCES}
            others = dict(_sources)
            _sources.clear()
            for source in (*builtins.values(), *others.values()):
                _register(source)
            _builtins_loaded = True
        return tuple(_sources.values())


def source_for(api: str) -> Source:
    """The source of targets of kind ``api``."""
    if not _builtins_loaded:
        registered()
    source = _sources.get(api)
    if source is not None:
        return source
    names = ", ".join(source.name for source in registered())
    raise UnknownSourceError(f"no registered source handles targets of kind {api!r} (registered: {names})")


def all_specs() -> tuple[MetricSpec, ...]:
    """Every family the exporter may serve, in body order: each source's job families, each source's
    run-history families, then the exporter's own."""
    sources = registered()
    return (*(spec for source in sources for spec in source.job_specs),
            *(spec for source in sources for spec in source.history_specs), *CORE_SPECS)


if __name__ == "__main__":  # python -m exporter.registry > table.md: the table of docs/metrics.md
    import sys

    from exporter.metrics import markdown_table

    sys.stdout.write(markdown_table(all_specs()))
