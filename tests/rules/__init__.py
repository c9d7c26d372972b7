"""Tests of rules/: each rule called directly with an actor and plain values."""
