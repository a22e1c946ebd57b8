"""What W&B has for its cloud account and console that sweepd accepts and
mostly ignores: `login`, `Settings`, `AlertLevel`, `setup`/`teardown`,
`require`, and the `termlog` family (which print to stderr)."""

import sys

_told_login = False


def login(*args, **kwargs):
    """No account to log in to: says so once, returns True."""
    global _told_login
    if not _told_login:
        _told_login = True
        _print("sweepd: no account needed; runs stay on this machine")
    return True


class Settings:
    """W&B's settings object: accepted and ignored."""

    def __init__(self, *args, **kwargs):
        self.__dict__.update(kwargs)

    def update(self, *args, **kwargs):
        self.__dict__.update(kwargs)


class AlertLevel:
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


def setup(*args, **kwargs):
    return None


def teardown(*args, **kwargs):
    return None


def require(*args, **kwargs):
    return None


def termlog(string="", newline=True, repeat=True, prefix=True):
    _print(("sweepd: " if prefix else "") + str(string), newline)


def termwarn(string="", newline=True, repeat=True, prefix=True):
    _print(("sweepd: warning: " if prefix else "") + str(string), newline)


def termerror(string="", newline=True, repeat=True, prefix=True):
    _print(("sweepd: error: " if prefix else "") + str(string), newline)


def _print(text, newline=True):
    stream = sys.stderr
    if stream is not None:
        stream.write(text + ("\n" if newline else ""))
        stream.flush()
