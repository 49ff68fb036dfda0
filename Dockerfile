# syntax=docker/dockerfile:1
# Cleara: one image runs daphne, the ingest tier (uvicorn), the worker(s) and one-off commands (scripts/entrypoint):
#   docker build -t cleara .                  the application image (target runtime, the default)
#   docker build --target nginx -t cleara-nginx .   nginx with the collected static files
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim

# --- assets: the browser assets from the npm registry (package-lock.json): Plotly's basic bundle
# (1.2 MB, a quarter of the plotly wheel's full one), as `make install` fetches them ------------
FROM ${NODE_IMAGE} AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error \
    && test -f node_modules/plotly.js-basic-dist-min/plotly-basic.min.js

# --- build: the virtualenv (CPU-only PyTorch) and the collected static files -----------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY requirements.txt .
# torch from PyTorch's CPU index first (no CUDA libraries: ~2 GB smaller); then PyPI for the rest,
# where the installed 2.x.y+cpu satisfies the pin torch==2.x.y.
RUN pip install --index-url https://download.pytorch.org/whl/cpu "$(grep -E '^torch==' requirements.txt)" \
    && pip install -r requirements.txt
COPY . .
# settings.py serves the basic bundle when node_modules has it (collectstatic and at run time).
COPY --from=assets /assets/node_modules ./node_modules
RUN DJANGO_SECRET_KEY=collectstatic python manage.py collectstatic --noinput \
    && test -n "$(find static_root/plotly -name 'plotly-basic.min.*.js' -print -quit)" \
    && python -m compileall -q cleara incidents correlation integrations

# --- runtime: slim, non-root -------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 PORT=8000 LOG_FORMAT=json CLEARA_DEMO=0
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin cleara
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
RUN mkdir -p var && chown cleara var
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
ENTRYPOINT ["/app/scripts/entrypoint"]
CMD ["web"]

# --- nginx: the reverse proxy with the static files (deploy/nginx) ------------------------------
FROM nginx:1.27-alpine AS nginx
RUN rm -f /etc/nginx/conf.d/default.conf
COPY deploy/nginx/templates/cleara.conf.template /etc/nginx/templates/cleara.conf.template
COPY deploy/nginx/cleara /etc/nginx/cleara
COPY --from=build /app/static_root /srv/cleara/static
ENV CLEARA_HTTP_PORT=80 CLEARA_WEB_ROOT=/srv/cleara CLEARA_CLIENT_MAX_BODY=11m \
    CLEARA_UPSTREAM_SERVERS="server web:8000;" CLEARA_INGEST_UPSTREAM_SERVERS="server ingest-web:8000;"

# The default target is the application image.
FROM runtime
