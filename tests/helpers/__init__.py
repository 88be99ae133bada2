"""Test-only code that several test modules share: never imported by ``exporter/``, never a test module itself."""
