"""User-facing errors.

Every problem caused by the user's input (a bad file, an unsupported op, a model that does not fit)
is raised as :class:`UserError`. The CLI prints its message without a traceback and exits with code 2.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input; printed as one clear message, exit code 2."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\nhint: {self.hint}"


class ToolError(Exception):
    """An external tool (compiler, emulator) failed on code we generated: a bug or a broken install."""

    exit_code = 1
