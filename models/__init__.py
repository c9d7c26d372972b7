"""The Tortoise models of the platform (one app, label ``models``).

The package itself imports nothing: ``models.enums`` must load without Tortoise (the face
workers read reason codes from it), so the ORM is told the model modules one by one
(``core.db.MODEL_MODULES``).
"""
