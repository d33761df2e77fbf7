"""WSGI entry point for both servers: uWSGI and Gunicorn load ``wsgi:app`` (see WSGI_APP)."""

from webapp import create_app

app = create_app()
