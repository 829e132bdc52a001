"""The ``azuraforge`` command line (Typer + Rich)."""
