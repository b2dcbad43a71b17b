import signal


def interruptible() -> None:
    """A child's SIGINT as a terminal's Ctrl-C finds it, whatever the test run inherited.

    A shell starts background jobs with SIGINT ignored, the child inherits that, and Python then
    installs no KeyboardInterrupt handler: run from such a job (`make test &`, some CI runners),
    a Ctrl-C test would see the bench finish its plan instead of stopping.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
