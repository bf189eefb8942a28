"""gunicorn settings for production: ``gunicorn -c infra/gunicorn.conf.py "madoguchi:create_app()"``.

Everything a deployment may want to change comes from the environment, so the container image stays the
same in every environment (docs/operations.md lists the variables):

- ``MADOGUCHI_WEB_CONCURRENCY`` (or gunicorn's own ``WEB_CONCURRENCY``): worker processes; default
  ``CPUs + 1`` of the CPUs this process may run on (a Fargate task sees its own vCPUs).
- ``MADOGUCHI_WEB_THREADS``: threads per worker (gthread), default 4.
- ``MADOGUCHI_BIND`` (or ``PORT``): where to listen, default ``0.0.0.0:8000``.
- ``MADOGUCHI_FORWARDED_ALLOW_IPS`` (or gunicorn's ``FORWARDED_ALLOW_IPS``): comma-separated addresses or
  networks of the load balancer, whose ``X-Forwarded-Proto`` is trusted; default ``127.0.0.1``.
- ``MADOGUCHI_WEB_TIMEOUT``, ``MADOGUCHI_WEB_GRACEFUL_TIMEOUT``, ``MADOGUCHI_WEB_KEEPALIVE``,
  ``MADOGUCHI_WEB_MAX_REQUESTS``, ``MADOGUCHI_WEB_MAX_REQUESTS_JITTER``: see below.

Access log lines are JSON objects, one per line on stdout, for CloudWatch Logs Insights and friends, with
one-time tokens redacted from paths, query strings and referers (``madoguchi.accesslog``).

With ``MADOGUCHI_ENV=production`` (the container image's default) gunicorn refuses to start, with one line on
stderr and exit status 1, while a production setting is missing (``madoguchi.config.Settings.check_production``):
checked here, when the master reads this file, so no worker boots and dies with a traceback instead.
"""

from __future__ import annotations

import os
import sys

from madoguchi.accesslog import JsonAccessLogger, loggable_path  # noqa: F401 - loggable_path: for tests and tools
from madoguchi.config import ConfigurationError, Settings

try:
    Settings.from_env().check_production()
except ConfigurationError as missing:
    print(missing, file=sys.stderr, flush=True)  # before gunicorn has set up its logging
    raise SystemExit(1) from None


def _env_int(name: str, default: int, *fallbacks: str) -> int:
    for key in (name, *fallbacks):
        raw = os.environ.get(key, "").strip()
        if raw:
            value = int(raw)
            if value < 0:
                raise ValueError(f"{key} must not be negative, got {raw!r}")
            return value
    return default


def _available_cpus() -> int:
    # os.cpu_count() counts the host's CPUs; the affinity mask is what this process may actually use.
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _default_bind() -> str:
    if os.environ.get("MADOGUCHI_BIND", "").strip():
        return os.environ["MADOGUCHI_BIND"].strip()
    if os.environ.get("PORT", "").strip():
        return f"0.0.0.0:{int(os.environ['PORT'])}"
    return "0.0.0.0:8000"


# -- where and how many -------------------------------------------------------------------------------
bind = _default_bind()
# CPUs + 1, not gunicorn's usual 2 × CPUs + 1: a request is mostly Python on the CPU (the database answers in
# well under a millisecond), so processes beyond the cores only take turns, and each one warms its own
# per-process caches (effective settings, settings snapshots, tenants). Measured with
# ``bench/http_paths.py --variants`` on 2 CPUs: 3 workers answered 10-25% more than 5 on the queue, console
# and submit paths, with a lower p99 (decision 0029).
workers = _env_int("MADOGUCHI_WEB_CONCURRENCY", _available_cpus() + 1, "WEB_CONCURRENCY") or 1
# Threads let a worker overlap requests that wait on PostgreSQL or S3; each worker has its own
# SQLAlchemy pool (MADOGUCHI_DB_POOL_SIZE, default 5), so keep threads <= pool size.
worker_class = "gthread"
threads = _env_int("MADOGUCHI_WEB_THREADS", 4) or 1

# Not preloading: every worker builds its own app, so no database connection, pool or lock is ever
# created before fork and shared by accident, and each worker reads fresh settings when gunicorn is
# told to reload (HUP). The cost is a little more memory and start-up time per worker; the per-process
# caches fill on first use after the fork, so preloading would not share them anyway.
preload_app = False

# -- behind the load balancer -------------------------------------------------------------------------
forwarded_allow_ips = (
    os.environ.get("MADOGUCHI_FORWARDED_ALLOW_IPS", "").strip()
    or os.environ.get("FORWARDED_ALLOW_IPS", "").strip()
    or "127.0.0.1"
)

# gunicorn >= 25's control socket (for `gunicornc`) is not used in containers, whose home may be read-only;
# older versions ignore the setting.
control_socket_disable = True

# -- timeouts: a worker silent this long is killed and replaced --------------------------------------------
timeout = _env_int("MADOGUCHI_WEB_TIMEOUT", 30)
# On SIGTERM (ECS stopping a task) workers finish in-flight requests for this long. Keep it below the
# task definition's stopTimeout so ECS never SIGKILLs a worker mid-request.
graceful_timeout = _env_int("MADOGUCHI_WEB_GRACEFUL_TIMEOUT", 25)
# Longer than the load balancer's idle timeout (60 s on the ALB): if gunicorn closed an idle keep-alive
# connection first, the ALB could send the next request into it and answer 502.
keepalive = _env_int("MADOGUCHI_WEB_KEEPALIVE", 75)

# -- recycling: bounds the damage of a slow leak; the jitter keeps workers from restarting together ----------
# 10,000, not 1,000: a recycled worker imports and builds the app again (about 1.5 s of CPU) and starts
# with cold caches: at 1,000 requests that was about 1.5 ms on every request, 10-15% of one (decision 0029).
max_requests = _env_int("MADOGUCHI_WEB_MAX_REQUESTS", 10000)
max_requests_jitter = _env_int("MADOGUCHI_WEB_MAX_REQUESTS_JITTER", 1000)

# -- logs: both to stdout/stderr, which the container runtime ships (awslogs) --------------------------------
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("MADOGUCHI_WEB_LOG_LEVEL", "info")
# Containers: heartbeat files in memory, not on a possibly slow overlay filesystem.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - gunicorn's documented advice


# JSON access log lines with one-time tokens redacted from paths, query strings and referers
# (madoguchi.accesslog: route variables named token/code, and token-like segments anywhere).
logger_class = JsonAccessLogger
