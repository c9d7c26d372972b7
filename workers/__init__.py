"""Background processes: the mail sender (and, later, face verification)."""
