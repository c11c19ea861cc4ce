# syntax=docker/dockerfile:1
#
# One image recipe for every Surge service; the build argument SERVICE picks which one runs:
#   docker build --build-arg SERVICE=gateway -t surge/gateway .
# The same image layers serve every service (only the SERVICE env differs), so a registry
# stores the dependencies once.

# Pinned by tag (readable) and by digest (reproducible, immune to a re-pushed tag).
# Bump both together, e.g. with Renovate or `docker buildx imagetools inspect`.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

# ---------------------------------------------------------------------------------------------
# builder: installs the project and its dependencies into a self-contained venv.
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Metadata first so the dependency layer is reused while only source files change.
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
# A regular (non-editable) install: the runtime stage needs only /opt/venv, not /src.
# Byte-code is compiled here because the runtime root filesystem is read-only, and so is the
# WAF's signature database (seconds of work no gateway worker should repeat at startup).
RUN pip install --no-cache-dir . \
    && python -m compileall -q /opt/venv/lib \
    && python -P -m services.gateway.waf.prebuild

# ---------------------------------------------------------------------------------------------
# runtime: the venv on a clean base, a non-root user, nothing else.
FROM ${PYTHON_IMAGE} AS runtime

ARG SERVICE=gateway
LABEL org.opencontainers.image.title="surge-${SERVICE}" \
      org.opencontainers.image.source="https://example.invalid/surge" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric uid/gid so Kubernetes `runAsNonRoot` can verify it without /etc/passwd.
RUN groupadd --system --gid 10001 surge \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin surge

COPY --from=builder /opt/venv /opt/venv

# Everything that may be written goes to /tmp (a tmpfs/emptyDir in compose and Kubernetes), so
# the container runs with a read-only root filesystem.
ENV SERVICE=${SERVICE} \
    PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    SPANS_DIR=/tmp/spans \
    LOG_FORMAT=json

WORKDIR /app
USER 10001:10001
EXPOSE 8080

# Liveness from inside the container: python's urllib, so the image needs no curl. The port is
# the service's own <SERVICE>_PORT (e.g. GATEWAY_PORT), falling back to 8080.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; s = os.environ['SERVICE'].upper(); p = os.environ.get(s + '_PORT', '8080'); u.urlopen('http://127.0.0.1:' + p + '/healthz', timeout=2)"]

# A tiny shell resolves $SERVICE, then `exec` replaces it with Python, so Python is PID 1 and
# receives SIGTERM directly (graceful shutdown within SHUTDOWN_GRACE_SECONDS). A service binds
# 127.0.0.1 by default; in a container it must listen on all interfaces unless told otherwise.
ENTRYPOINT ["/bin/sh", "-c", "p=$(echo \"$SERVICE\" | tr '[:lower:]' '[:upper:]'); export \"${p}_HOST=$(printenv \"${p}_HOST\" || echo 0.0.0.0)\"; exec python -m \"services.${SERVICE}\" \"$@\"", "--"]
