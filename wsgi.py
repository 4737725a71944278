"""The WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from tasktracker import create_app

app = create_app()
