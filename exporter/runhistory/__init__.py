"""Run history: every finished run counted exactly once, whatever source it comes from.

- :mod:`exporter.runhistory.counts` holds the counters and histograms (no I/O) and the immutable views the
  exposition renders from a snapshot;
- :mod:`exporter.runhistory.persistence` turns them, with each source's marks, into the state file's data
  and back;
- :mod:`exporter.runhistory.history` drives the sources' own counting (``exporter.sources.*.history``): what a
  listing tells, which records to fetch within a cycle's budget.
"""
