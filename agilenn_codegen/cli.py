"""The `agilenn` command line.

Each command lives in its own module under :mod:`agilenn_codegen.commands`; this module only
registers them and turns :class:`~agilenn_codegen.errors.UserError` into one clear message and
exit code 2 (no traceback). Heavy imports (onnxruntime, torch) happen inside the commands, so
`agilenn --help` stays fast.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from agilenn_codegen import __version__
from agilenn_codegen.commands import register_all
from agilenn_codegen.errors import ToolError, UserError

app = typer.Typer(
    name="agilenn",
    help="AgileNN toolchain: train, quantize and compile split neural networks for microcontrollers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"agilenn-codegen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """AgileNN toolchain: train, quantize and compile split neural networks for microcontrollers."""


register_all(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        app(args=argv, standalone_mode=False)
    except UserError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", markup=True)
        if exc.hint:
            err.print(f"[bold]hint:[/] {exc.hint}", markup=True)
        return exc.exit_code
    except ToolError as exc:
        err.print(f"[bold red]tool failure:[/] {exc}", markup=True)
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        err.print("aborted")
        return 130
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except Exception as exc:  # click usage errors carry their own exit code (2)
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
