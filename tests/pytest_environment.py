"""Loaded by pytest before Django (see pytest.ini): tests run with a fixed non-debug secret key."""
import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-" + "x" * 40)
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
