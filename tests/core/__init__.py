"""Tests of core/: settings, the database and its migrations, Redis, the CLI, the demo data."""
