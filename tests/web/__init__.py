"""Tests of web/: the plumbing both front ends share (sessions, CSRF, headers, health, exports)."""
