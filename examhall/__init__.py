"""The exam hall: the proctored online test over one WebSocket per attempt."""
