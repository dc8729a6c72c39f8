"""CLI command groups. Each module defines ``register(app: typer.Typer)`` and keeps its commands thin:
parse options, call the library, print (``--json``: one JSON object as the last stdout line)."""
