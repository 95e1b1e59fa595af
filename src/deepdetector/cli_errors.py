"""How a ``deepdetector`` command ends: its exit code and, on failure, one line on stderr.

The policy, the same for every command (``scan``, ``batch`` and ``serve`` define the same numbers):

====  ==========================================================================================
code  meaning
====  ==========================================================================================
0     done (for ``scan``/``batch``: every file was analysed, whatever the verdicts)
1     failed: the command could not start or could not finish (bad option value, manifest, model,
      data or output path; interrupted with Ctrl-C). One line ``error: <what and why>`` on stderr,
      never a traceback; what was already written stays (the message says how to resume).
2     usage error found by the command-line parser before the command ran (unknown option, a value
      of the wrong type); click prints the usage and the reason.
3     ``scan``/``batch`` only: done, but some files could not be analysed (each has an error entry).
130   ``batch`` only: interrupted; rerun the same command to resume.
====  ==========================================================================================

Commands raise :func:`fail` (``raise fail("...") from None``) for code 1.
"""

from __future__ import annotations

import typer

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2  # click's own code for a bad command line
EXIT_SOME_ERRORS = 3
EXIT_INTERRUPTED = 130


def fail(message: str | BaseException) -> typer.Exit:
    """Print ``error: <message>`` on stderr and return the :class:`typer.Exit` (code 1) to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_FAILED)
