"""The WebSocket exam hall: protocol, server and proctor monitor (issue 7 builds it)."""
