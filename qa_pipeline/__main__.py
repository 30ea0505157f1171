"""``python -m qa_pipeline`` = the ``qa`` command."""

from .cli import app

app(prog_name="qa")
