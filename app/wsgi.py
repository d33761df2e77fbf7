"""The app's entry point: the stack serves the Flask application named `app` here.

This is the one file that names the app's package: a fork imports its own app instead.
"""

from webapp import create_app

app = create_app()
