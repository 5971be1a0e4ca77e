"""GitPython with bounded git processes: each git leads its own process group, under the git
limits of `codemods.subproc`, and none outlives the run."""

from __future__ import annotations

import signal
import time
from typing import Any

import git

from codemods.subproc import Cancelled, Limits, bounded_argv, is_closing


class BoundedGit(git.Git):
    """GitPython's command wrapper, with each git a group leader under the git limits.

    Each git is killed past the git time limit by the run's watchdog. GitPython keeps
    long-lived `git cat-file` processes for object reads (`as_process`): those
    are not tied to the starting thread's life (another thread may use them next) and end when
    their stdin closes; the run's watchdog (`codemods.subproc`) kills them with the rest."""

    def execute(self, command: Any, *args: Any, **kwargs: Any) -> Any:
        if is_closing():
            raise Cancelled()
        limits = Limits.git()
        persistent = bool(kwargs.get("as_process"))
        # The time limit is the watchdog's, not GitPython's kill_after_timeout: that one leaves
        # a timer thread behind when the call is interrupted, and the interpreter waits for it.
        kwargs.setdefault("process_group", 0)
        argv = [str(word) for word in command] if isinstance(command, (list, tuple)) else [str(command)]
        try:
            bounded = bounded_argv(argv, limits.address_space, seconds=None if persistent else limits.seconds)
        except FileNotFoundError as err:
            raise git.GitCommandNotFound(argv, err) from err
        start = time.monotonic()
        try:
            return super().execute(bounded, *args, **kwargs)
        except git.GitCommandError as err:
            # Told as the git command it is, not as the shell that started it.
            if err.status == -signal.SIGKILL and time.monotonic() - start >= limits.seconds:
                raise git.GitCommandError(
                    argv, err.status, f"killed: git did not finish within {limits.seconds:g} s"
                ) from err
            told = git.GitCommandError(argv, err.status)
            told.stdout, told.stderr = err.stdout, err.stderr  # as GitPython worded them
            raise told from err


class Repo(git.Repo):
    """A GitPython repository whose git commands are bounded (see `BoundedGit`)."""

    GitCommandWrapperType = BoundedGit
