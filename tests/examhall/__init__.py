"""Tests of examhall/: the WebSocket hall, the proctor monitor, the load tool, nodes and nginx."""
