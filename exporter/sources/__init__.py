"""The sources: one package per CodeArts API (``repo``, ``build``, ``pipeline``), each a
:class:`~exporter.sources.base.Source`; ``builtin`` lists them in the table the CLI hands down (see
:mod:`exporter.sourcetable`). Nothing here imports a source, so a render module loads no client."""
