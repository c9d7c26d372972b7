"""Shared infrastructure: settings, database, Redis, passwords, mail, the CLI."""
