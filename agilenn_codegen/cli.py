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
from rich.text import Text

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
    """Entry point of the console script; returns the process exit code.

    Usage errors are reported by typer itself (exit code 2); user errors raised by the commands
    become one message and exit code 2; failures of external tools exit with 1.
    """
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except UserError as exc:
        err.print(Text.assemble(("error: ", "bold red"), exc.message))
        if exc.hint:
            err.print(Text.assemble(("hint: ", "bold"), exc.hint))
        return exc.exit_code
    except ToolError as exc:
        err.print(Text.assemble(("tool failure: ", "bold red"), str(exc)))
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
