"""Tests of the flows in flows/.

This directory is a package on purpose: tests/conftest.py is imported as the top-level module
`conftest` (other tests do `from conftest import ROOT`); a second, package-less conftest.py here
would replace it in sys.modules and break those imports. As a package, ours is `flows.conftest`.
"""
