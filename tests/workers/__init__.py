"""Tests of workers/: the mail sender and the workers' metrics."""
