"""The test suite, a package mirroring the application's folders; what tests share lives in
helpers.py, factories.py, browser.py, servers.py and face_helpers.py, fixtures in conftest.py."""
