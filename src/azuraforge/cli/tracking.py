"""``azuraforge track flush``: send the spools that tracked scripts left behind in
``$AZURAFORGE_HOME/spool`` (a script killed while the server was away, or one that ended
before the server answered), each to the run it belongs to, and print what became of each
(:mod:`azuraforge.track.leftovers`). The next ``track.start_run`` of the same home sends them
too, in the background."""

from __future__ import annotations

import typer
from rich.markup import escape

from azuraforge.cli.common import EXIT_FAILED, Verbose, console, user_errors
from azuraforge.track.leftovers import AWAY, KEPT, send_leftovers
from azuraforge.track.spool import spool_root

app = typer.Typer(help="Your own scripts' runs (azuraforge.track).", no_args_is_help=True)


@app.command()
def flush(verbose: Verbose = False) -> None:
    """Send the spools tracked scripts left behind (exit 1: one is still kept).

    A script killed while the server was away leaves its batches in $AZURAFORGE_HOME/spool:
    each is sent in order, once, to its run; a line says what became of each."""
    with user_errors(verbose):
        root = spool_root()
        found = send_leftovers(root)
        if not found:
            said = f"no spool left behind in {escape(str(root))}"
            console.print(said, highlight=False, soft_wrap=True)
        for leftover in found:
            console.print(escape(leftover.describe()), highlight=False, soft_wrap=True)
        if any(leftover.outcome in (AWAY, KEPT) for leftover in found):
            raise typer.Exit(EXIT_FAILED)
