"""The htmx portal: pages for every role, and the web plumbing they share."""
