"""Tests of face/: the analysis of frames, the live challenge, the client and recovery."""
