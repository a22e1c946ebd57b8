"""The exceptions sweepd raises, named as W&B names its own where W&B has one.

`Error` is the base of every sweepd error (W&B's `wandb.errors.Error`).
`RunStopped` is not an error: it is how a run asked by sweepd to stop ends,
a `SystemExit` with status 0, so an uncaught one ends the script quietly.
"""


class Error(Exception):
    """Something sweepd could not do; the message says what and why."""


class UsageError(Error):
    """The API was used out of order (`log()` before `init()`, say)."""


class CommError(Error):
    """Talking to the sweepd daemon failed."""


class NoDaemon(CommError):
    """No sweepd answers on the home's control socket."""


class SweepConfigError(Error):
    """The sweep configuration is invalid or was rejected.

    Its text is the checker's messages as `sweepctl` printed them (file,
    line, column and key path), whole.
    """


class RunStopped(SystemExit):
    """Raised by `log()` once sweepd asked the run to stop.

    A SystemExit with code 0: uncaught, the script (or the agent's child)
    ends with status 0, and sweepd records the run as it decided (killed,
    with the reason, or interrupted by a shutdown).
    """

    def __init__(self, reason="user"):
        super().__init__(0)
        self.reason = reason

    def __str__(self):
        return "sweepd asked this run to stop (%s)" % self.reason
