"""Offline half of AgileNN: models, XAI importance, losses, pre-processing, training, evaluation, export.

Everything here imports torch; the CLI imports these modules lazily inside its commands.
"""
