"""Tests of tools/: the demo data, the load-test tool."""
