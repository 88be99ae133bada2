"""The sources: one package per CodeArts API (``repo``, ``build``), each a
:class:`~exporter.sources.base.Source` that :mod:`exporter.registry` loads."""
