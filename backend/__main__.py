"""`python -m backend` is the `mqchat` command."""

from backend.cli import app

app(prog_name="mqchat")
