"""CLI commands, one module each. `register_all` adds them to the typer app in a fixed order."""

from __future__ import annotations

import importlib

import typer

# (module under agilenn_codegen.commands, command name). Each module defines `command`.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("codegen", "codegen"),
    ("verify", "verify"),
    ("inspect_model", "inspect"),
    ("profile", "profile"),
    ("targets", "targets"),
    ("quantize", "quantize"),
    ("train_reference", "train-reference"),
    ("train", "train"),
    ("evaluate", "evaluate"),
    ("export", "export"),
    ("fit_coder", "fit-coder"),
    ("serve", "serve"),
    ("keys", "keys"),
    ("device", "device"),
)


def register_all(app: typer.Typer) -> None:
    """Register every command module."""
    for module_name, command_name in COMMANDS:
        module = importlib.import_module(f"agilenn_codegen.commands.{module_name}")
        app.command(name=command_name)(module.command)
