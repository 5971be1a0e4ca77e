"""The build gate's inputs and results: plain frozen data, independent of the repository model.

Every path is repo-relative and posix, in the LOGICAL tree (where files end up after
rendering); "" is the repository root. The adapter (codemods/verify/adapter.py) builds the
inputs; nothing in this package reads Plan, RepoIndex or FluxGraph. What Flux means by a field is
the Flux model's (codemods/flux/), shared with the planner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from codemods.flux.envsubst import Variables
from codemods.flux.spec import BuildEdits, CommonMetadata
from codemods.intents import CarryOver

Scalar = bool | int | float | str | None


def uid(file: str, key: str) -> str:
    """A Flux Kustomization's unique key: its declaring file and namespace/name."""
    return f"{file}#{key}"


@dataclass(frozen=True)
class FluxTarget:
    """One Flux Kustomization, as far as a build needs it: every field that changes what Flux
    builds (the model's, codemods/flux/spec.py)."""

    name: str
    namespace: str | None
    path: str  # spec.path, normalized
    components: tuple[str, ...] = ()  # spec.components, normalized, relative to the repo root
    target_namespace: str | None = None
    # postBuild: substituteFrom objects found in the repository, then substitute on top.
    substitute: Mapping[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()  # "name" or "namespace/name"
    file: str = ""  # the file that declares it
    line: int | None = None  # line of spec.path in file
    # True when substitute holds every variable Flux will have (no substituteFrom object
    # outside the repository): an unset one is then empty, as Flux makes it; otherwise an
    # expression that needs it is left as written.
    substitute_complete: bool = False
    name_prefix: str | None = None
    name_suffix: str | None = None
    patches: tuple[Mapping[str, Any], ...] = ()
    images: tuple[Mapping[str, Any], ...] = ()
    ignore_missing_components: bool = False
    common_metadata: CommonMetadata = field(default_factory=CommonMetadata)
    # Its spec.patches as the change leaves them, when the change edits them (a value fix in one).
    patches_after: tuple[Mapping[str, Any], ...] | None = None
    # Set for one cluster's reading of a Flux Kustomization that clusters resolve differently
    # (a `${CLUSTER}` spec.path): then each cluster's is a target of its own.
    per_cluster: bool = False

    def edits_on(self, side: str) -> BuildEdits:
        """What Flux writes into the kustomization it builds, on one side of the change."""
        if side == "after" and self.patches_after is not None:
            return replace(self.edits, patches=self.patches_after)
        return self.edits

    @property
    def edits(self) -> BuildEdits:
        """What Flux writes into the kustomization it builds for this target."""
        return BuildEdits.of(self)

    @property
    def variables(self) -> Variables:
        return Variables(self.substitute, self.substitute_complete)

    def built_name(self, name: str) -> str:
        """A name as this target's namePrefix and nameSuffix leave it."""
        return f"{self.name_prefix or ''}{name}{self.name_suffix or ''}"

    @property
    def key(self) -> str:
        """namespace/name, as Flux and the preview name it."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @property
    def uid(self) -> str:
        """What tells two Flux Kustomizations apart: two clusters may both declare
        flux-system/apps (clusters/staging/apps.yaml, clusters/production/apps.yaml)."""
        return uid(self.file, self.key) + (f"@{self.path}" if self.per_cluster else "")

    def waits_for(self) -> str:
        return f"dependsOn {', '.join(self.depends_on)}" if self.depends_on else "no dependsOn"


@dataclass(frozen=True)
class MovedJob:
    """A Job the plan moves: it must be applied after by exactly `to_target` (a FluxTarget uid)."""

    name: str
    to_target: str
    namespace: str | None = None  # as written in the manifest; the build decides the effective one
    source: str = ""  # logical path before
    destination: str = ""  # logical path after
    # Set for a Job listed in place: a Job no Flux Kustomization applied before may be added
    # only in the namespace of this release, as its Flux Kustomization builds it.
    release: str | None = None
    intent: str = ""  # the JobPlacement it checks, as refusals name it
    # The names Flux builds it with before, when a parent's namePrefix/nameSuffix gave it one,
    # and the name its moved manifest says (when the move wrote one to keep that name).
    names_before: tuple[str, ...] = ()
    name_after: str | None = None
    # The other clusters' readings of the owner, when the clusters resolve it differently.
    also: tuple[str, ...] = ()
    # "Kind name" of the documents sharing a newly listed Job's file: applied with it.
    companions: tuple[str, ...] = ()

    @property
    def owners(self) -> tuple[str, ...]:
        """Every target that must build the Job after, and only they."""
        return (self.to_target, *self.also)


@dataclass(frozen=True)
class ValueExpectation:
    """A HelmRelease whose effective values must carry `values` (dotted path -> value) after."""

    release: str  # metadata.name
    values: Mapping[str, Scalar]
    namespace: str | None = None  # None: whatever namespace the build gives it
    file: str = ""  # the file the plan edited for it
    source: str = ""  # the file that declares the release


@dataclass(frozen=True)
class VerifyInput:
    """Everything the gate needs to build before and after and to judge the difference."""

    targets: tuple[FluxTarget, ...]
    writes: Mapping[str, bytes | None]  # repo-relative path -> new content; None: deleted
    moved_jobs: tuple[MovedJob, ...] = ()
    values: tuple[ValueExpectation, ...] = ()
    # Objects (kind/namespace/name) that may gain labels and annotations, e.g. a force annotation.
    may_gain_metadata: frozenset[str] = frozenset()
    # Every kustomization file of the current tree (logical paths): where to look for references.
    kustomizations: tuple[str, ...] = ()
    # Logical files that exist only as in-place templates: logical path -> template path.
    templates: Mapping[str, str] = field(default_factory=dict)
    # Bytes already read of files as they are on disk (regular files, by path): the gate reads
    # these from here, not from disk a second time. Any other file is read from disk.
    read: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Options:
    kustomize: tuple[str, ...] | None  # the command, e.g. ("kubectl", "kustomize"); None: none found
    jinja_vars: Mapping[str, object] | None = None  # renders in-place .j2 files for the build
    jobs: int = 0  # parallel builds; 0: the number of cores
    cache: Path | None = None  # SQLite file of build results by input digest (batch reruns)
    # A target whose build reads at least this many files is built decomposed where that is
    # exact (codemods/verify/decompose.py): only the parts the change touches. Below it, a whole
    # build costs less than the probe a decomposed one may need.
    decompose_from: int = 256


@dataclass(frozen=True)
class ValueChange:
    subject: str  # "HelmRelease ns/name"
    path: str  # "spec.values.litellm-helm.migrationJob.enabled"
    before: Any
    after: Any


@dataclass(frozen=True)
class JobMove:
    job: str  # "ns/name"
    before: tuple[FluxTarget, ...]
    after: tuple[FluxTarget, ...]

    def line(self) -> str:
        def where(targets: tuple[FluxTarget, ...]) -> str:
            if not targets:
                return "(not applied)"
            return ", ".join(f"{t.key} ({t.waits_for()})" for t in targets)

        return f"Job {self.job}: {where(self.before)} -> {where(self.after)}"


@dataclass(frozen=True)
class TargetPreview:
    target: FluxTarget
    status: Literal["verified", "templates only", "not built"]
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    values: tuple[ValueChange, ...] = ()
    error: str = ""  # not built: kustomize's own error, when it fails before the change too


@dataclass(frozen=True)
class Problem:
    """Why the gate refuses the plan: names the Flux Kustomization, the file and the cause."""

    target: str
    file: str
    line: int | None
    message: str
    intent: str = ""  # the intent found violated (codemods.intents), as text
    # What a next candidate can write so that this problem goes (a moved Job's lost metadata).
    carry: CarryOver | None = field(default=None, compare=False)
    # The object an Unchanged violation is about ("ConfigMap ai/openhands-flags"), "" otherwise.
    subject: str = field(default="", compare=False)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: Flux Kustomization {self.target}: {self.message}"


@dataclass(frozen=True)
class Candidate:
    """One plan the search tried, simplest first: accepted, or refused with what it violated."""

    description: str
    accepted: bool
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class Decomposed:
    """How a large target was built: only the parts the change touches, or whole, and why."""

    target: FluxTarget
    built: tuple[str, ...]  # the parts built before and after (entries of its kustomizations)
    untouched: int  # the parts not built: known by their objects' identities, the same on both sides
    whole: str = ""  # set when it was built whole after all: why

    def line(self) -> str:
        if self.whole:
            return f"{self.target.key}: {self.whole}"
        parts = len(self.built) + self.untouched
        return f"{self.target.key}: {len(self.built)} of {parts} parts built"


@dataclass(frozen=True)
class Semantic:
    """The gate's verdict and the preview of what Flux will apply differently."""

    status: Literal["verified", "refused", "not verified", "skipped"]
    reason: str | None = None
    kustomize: str | None = None
    builds: int = 0
    build_seconds: float = 0.0
    cached: int = 0  # builds answered from the cache instead of run
    targets: tuple[TargetPreview, ...] = ()
    moves: tuple[JobMove, ...] = ()
    problems: tuple[Problem, ...] = ()
    all_targets: tuple[FluxTarget, ...] = ()  # every Flux Kustomization, for the flowchart
    candidates: tuple[Candidate, ...] = ()  # the plans tried, when more than one was
    decomposed: tuple[Decomposed, ...] = ()  # the targets large enough to be built in parts

    @property
    def refused(self) -> bool:
        return self.status == "refused"
