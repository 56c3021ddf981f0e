"""Chalice entry point: the app built from Lamed's blueprints, and the Lambda
handler (``app.handler``) that also answers scheduled warm-ups."""

from lamed.application import create_app, make_handler

app = create_app()
handler = make_handler(app)
