"""Errors a user can fix: bad parameters or bad input files.

Stages turn these into one line on stderr and a non-zero exit instead of a traceback,
because the message, not the stack, is what tells the user what to change.
"""


class UserError(Exception):
    """Something the user can fix; the message says what and how."""


class ConfigError(UserError):
    """A value in params.yaml is missing, unknown or out of range."""


class DataFileError(UserError):
    """A .npz data file or a checkpoint is missing, corrupt or does not fit."""
