# The Task Tracker images (docker-compose.yml): `nginx`, the proxy with this release's
# server block and static files; `app`, the web app (gunicorn), the worker and the one-shot
# migration, run as an unprivileged user.

FROM nginx:1.27-alpine AS nginx
COPY deploy/nginx.conf /etc/nginx/conf.d/default.conf
COPY static /srv/tasktracker/static

FROM python:3.11-slim-bookworm AS app

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY wsgi.py .flaskenv ./
COPY tasktracker ./tasktracker
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
COPY deploy ./deploy

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin tasktracker \
    && mkdir -p /app/instance && chown tasktracker /app/instance
USER tasktracker

EXPOSE 8000
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "wsgi:app"]
