"""A fifth source, defined entirely under tests/ and laid out file for file as docs/architecture.md's "Adding a
source" says a new folder under ``exporter/sources/`` is: ``tests/test_fifth_source.py`` checks the list against
this folder and runs the source beside the toy one, with no core edit.

``gadgets:`` names shelves; ``GET {endpoint}/v1/shelves/{shelf}/gadgets?page_no=N`` lists a shelf's gadgets.
Modules: ``targets``, ``config``, ``models``, ``fetch``, ``metrics``, ``render``, ``regions``, ``source``.
"""
