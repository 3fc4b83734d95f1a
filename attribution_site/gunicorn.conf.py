"""gunicorn settings (SPEC §11): `gunicorn -c attribution_site/gunicorn.conf.py`.

Like the Django settings, tuning comes from the environment and a bad value stops the start:
GUNICORN_BIND (default 127.0.0.1:8000; comma-separated for several), WEB_CONCURRENCY (worker
processes, default 2 × cores + 1, at most 8) and GUNICORN_THREADS (threads per worker, 4).
Command-line flags still override everything here. docs/deploy.md §4 explains the choices.
"""
import os


def _positive_int(variable, default):
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{variable} must be a positive whole number, got {text!r}")
    return int(text)


def _cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# A process per core and a bit (the classic 2n+1), capped: each worker holds a few database
# connections and ~100 MB, and an ops console rarely has more users than that serves.
MAX_DEFAULT_WORKERS = 8

wsgi_app = "attribution_site.wsgi:application"
bind = [address.strip() for address in os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",") if address.strip()]
workers = _positive_int("WEB_CONCURRENCY", min(2 * _cores() + 1, MAX_DEFAULT_WORKERS))
# Threads keep a slow client (no buffering proxy in front) or a long export download from
# holding a whole process, and Django's request handling is thread-safe.
worker_class = "gthread"
threads = _positive_int("GUNICORN_THREADS", 4)

# Pages are bounded reads (the slowest, System Checks, took 0.27 s on the demo data; docs/deploy.md
# §4); a worker silent for 2 minutes is stuck and is replaced.
timeout = 120
# On restart or deploy, requests in flight get this long to finish before the worker is killed.
graceful_timeout = 60
keepalive = 5
# Recycle workers now and then, jittered so they never restart together, to bound memory growth.
max_requests = 2000
max_requests_jitter = 200

# Access and error logs on stdout/stderr, for systemd's journal or the container runtime.
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'

# HTTPS detection is Django's alone (X-Forwarded-Proto only with TRUST_X_FORWARDED_PROTO=1,
# SPEC §9): gunicorn must not mark a request secure from a forwarded header on its own.
secure_scheme_headers = {}
