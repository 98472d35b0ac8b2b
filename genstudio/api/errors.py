"""Errors whose messages are shown to the user as they are, without a traceback."""

from __future__ import annotations

from pathlib import Path


class GenStudioError(Exception):
    """An error whose message is written for the user: shown without a traceback."""


class DataError(GenStudioError):
    """Bad input data. The message names the file (when there is one) and the problem."""

    def __init__(self, problem: str, path: str | Path | None = None):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")


class ConfigError(GenStudioError):
    """A hyperparameter or option with a value that is not allowed."""


class PluginError(GenStudioError):
    """A plugin that broke the contract (bad registration, a name already taken, ...)."""


class CheckpointError(GenStudioError):
    """A checkpoint that is missing, incomplete or does not fit the model."""
