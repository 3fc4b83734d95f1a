"""Loaded by pytest before Django (see pytest.ini): tests run with a fixed non-debug secret key."""
import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-" + "x" * 40)
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")

# The suite itself runs on django-q2's ORM broker (its tests read and drive the queue table in
# their transaction). With REDIS_URL set, the scale-out tests (tests/test_scale_out_redis.py)
# hand it to the qcluster processes they start, and the Redis broker tests use it directly.
REDIS_URL = os.environ.pop("REDIS_URL", "")
