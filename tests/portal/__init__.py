"""Tests of portal/: every page of every role, through the real app."""
