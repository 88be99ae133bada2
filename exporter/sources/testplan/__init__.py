"""CodeArts TestPlan: the test plans of CodeArts projects and their pass rates (``testplan_projects:``).

Modules: ``config`` (the section), ``targets``, ``models`` (records), ``fetch`` (the plan listing and its
paging), ``metrics`` (families), ``render`` (samples), ``regions`` (its host per region), ``source`` (the
:class:`~exporter.sources.base.Source`, ``SOURCE``, on :data:`exporter.sources.builtin.BUILTIN`).
"""
