"""The htmx portal: the pages of every role (the web plumbing they share is in ``web/``)."""
