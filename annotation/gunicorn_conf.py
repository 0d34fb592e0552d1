"""The web server in production: `gunicorn -c python:annotation.gunicorn_conf annotation.wsgi`.

Environment: `BIND` (127.0.0.1:8000), `WEB_WORKERS` (2 per core), `WEB_THREADS` (4).
"""

import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", str(2 * (os.cpu_count() or 1))))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
# One connection per request (the reverse proxy in front keeps the browsers' connections open):
# a kept-alive connection would tie an annotator to the worker that accepted it, while a fresh one
# goes to whichever worker is free, which keeps the slowest saves short under load.
keepalive = 0
