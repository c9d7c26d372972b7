"""The demo region: a believable Xinjiang of organisations, physicians, a current and a past
period, the demo question bank and courses (`content/`), photos and `xjdk demo-exam-now`."""
