# Covenant service image. Used by docker-compose.yml; the local stack
# (`covenant stack up`) does not need it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    URLLIB3_NO_OVERRIDE=1

WORKDIR /src

# README.m[d] is a wildcard so the build still works if the file is absent;
# it is copied because pyproject metadata may reference it.
COPY pyproject.toml constraints.txt README.m[d] ./
COPY covenant/ ./covenant/
COPY contracts/ ./contracts/
COPY verifiers/ ./verifiers/
COPY observability/ ./observability/
COPY schedules/ ./schedules/

# URLLIB3_NO_OVERRIDE=1 and --no-binary urllib3-future are essential: without
# them urllib3-future overwrites urllib3 and breaks Schemathesis.
RUN URLLIB3_NO_OVERRIDE=1 pip install --no-binary urllib3-future -c constraints.txt . \
    && useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin covenant \
    && mkdir -p /app \
    && chown covenant:covenant /app

WORKDIR /app
USER covenant

EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4); sys.exit(0 if r.status == 200 else 1)"]

CMD ["covenant", "serve", "--host", "0.0.0.0", "--port", "8080"]
