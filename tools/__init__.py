"""What is not the product: the demo region, the load-test tool and the face benchmark.

Only `cli.py` imports from here; nothing of the platform depends on it.
"""
