"""Typed intents: what a codemod's edits must achieve in what Flux builds (postconditions).

A codemod returns its edits through the plan and, with `plan.expect(...)`, the intents those
edits are for. The build gate reads only the intents and the builds, never a codemod's name:

- `JobPlacement`: after the change exactly the owner Flux Kustomization builds this Job, and
  the built Job is the one built before (name, namespace, images, spec; labels and annotations
  may only be added), apart from the Flux ownership that moves with it;
- `EffectiveValue`: the release's effective values, as Helm receives them (`valuesFrom`, then
  `spec.values`, after every patch; types included), hold `value` at `path`;
- `MetadataMayGrow`: an object may gain labels and annotations (and nothing else);
- `Unchanged`: implied by every plan, stated by none: every other built object of every Flux
  Kustomization is unchanged, and every build that worked still works.

So a plugin codemod gets the same gate for free: what it changes in the builds is judged
against the intents it states, and anything else is damage. Plain frozen data: this module
imports nothing of the project.
"""

from __future__ import annotations

from dataclasses import dataclass

Scalar = bool | int | float | str | None


@dataclass(frozen=True)
class FluxRef:
    """One Flux Kustomization: the file that declares it and its namespace/name (two clusters
    may both declare flux-system/apps)."""

    file: str
    key: str

    def __str__(self) -> str:
        return f"{self.key} ({self.file})"


@dataclass(frozen=True)
class JobPlacement:
    """After the change exactly `owner` builds Job `job`, and builds it as it was built before.

    `source` and `destination` are the manifest's logical paths before and after (the same for
    a Job left where it is and newly listed). `release` is set for such a Job when no Flux
    Kustomization applied it before: it may then be added only in that release's namespace."""

    job: str
    source: str
    destination: str
    owner: FluxRef
    release: str | None = None
    # The names Flux builds it with before (a parent's namePrefix), when not its own, and the
    # name the moved manifest says after (written so that Flux builds the same name).
    names_before: tuple[str, ...] = ()
    name_after: str | None = None
    # For a Job newly listed where it is: the other documents of its file ("Kind name", a
    # ConfigMap holding its script), which listing the file applies with it.
    companions: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"JobPlacement(Job {self.job} built by exactly {self.owner.key}, unchanged)"


@dataclass(frozen=True)
class EffectiveValue:
    """The HelmRelease `release` (in `namespace`; None: whatever its build gives it) holds
    `value` at the dotted `path` of its effective values. `file` is the file edited for it;
    `source`, the file that declares the release (it tells apart two releases of one name
    that their builds put in different namespaces)."""

    release: str
    path: str
    value: Scalar
    namespace: str | None = None
    file: str = ""
    source: str = ""
    via: str = ""  # the kind of values source edited: "valuesFrom", "spec.values", "patch", ...

    def __str__(self) -> str:
        return f"EffectiveValue(HelmRelease {self.release}: {self.path} = {self.value!r})"


@dataclass(frozen=True)
class MetadataMayGrow:
    """`subject` ("Kind name") may gain labels and annotations, and nothing else."""

    subject: str

    def __str__(self) -> str:
        return f"MetadataMayGrow({self.subject})"


@dataclass(frozen=True)
class Unchanged:
    """Every other built object of every Flux Kustomization is unchanged, and every build that
    worked still works. Never stated: the gate always checks it."""

    def __str__(self) -> str:
        return "Unchanged(everything else)"


Intent = JobPlacement | EffectiveValue | MetadataMayGrow
UNCHANGED = Unchanged()


@dataclass(frozen=True)
class CarryOver:
    """What a refused candidate's builds say the next candidate must write into a moved Job's
    manifest so that its build is the same: the labels and annotations that the kustomizations
    which applied it before gave it (commonLabels, labels, commonAnnotations) and its new place
    does not. Read from the build before the change, so it comes from what Flux built, not
    from a list of known layouts."""

    source: str  # the JobPlacement's source: the manifest's logical path before
    job: str
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    # The pod template's (commonAnnotations and commonLabels reach spec.template.metadata too).
    template_labels: tuple[tuple[str, str], ...] = ()
    template_annotations: tuple[tuple[str, str], ...] = ()
    images: tuple[tuple[str, str], ...] = ()  # (container, image) an `images:` transformer gave it

    def sections(self) -> tuple[tuple[tuple[str, ...], str, tuple[tuple[str, str], ...]], ...]:
        """(where, labels or annotations, items) to write, each non-empty."""
        every = (
            (("metadata",), "labels", self.labels),
            (("metadata",), "annotations", self.annotations),
            (("spec", "template", "metadata"), "labels", self.template_labels),
            (("spec", "template", "metadata"), "annotations", self.template_annotations),
        )
        return tuple(entry for entry in every if entry[2])

    def __str__(self) -> str:
        items = list(
            dict.fromkeys(f"{section[:-1]} {k}={v}" for _at, section, pairs in self.sections() for k, v in pairs)
        )
        items += [f"image {image} for container {name}" for name, image in self.images]
        return f"carry over to Job {self.job} what a parent kustomization gave it: {', '.join(items)}"


@dataclass(frozen=True)
class LeaveInPlace:
    """The last candidate for a Job whose every placement was refused: it stays where it is,
    applied as before, and the rest of the change (the values fix) stands without it. `why`
    is the first intent its placements violated, as the gate said it."""

    source: str  # the JobPlacement's source: the manifest's logical path
    job: str
    why: str = ""

    def __str__(self) -> str:
        return f"leave Job {self.job} where it is ({self.source})"


@dataclass(frozen=True)
class ValuesInRelease:
    """A next candidate for a fix the gate refused where the plan made it, in a valuesFrom
    source (a ConfigMap that another Flux Kustomization applies, and other releases may read):
    the release's own spec.values carries it instead, which Helm merges over every valuesFrom."""

    source: str  # the file that declares the release
    release: str

    def __str__(self) -> str:
        return f"the fix of HelmRelease {self.release} in its own spec.values ({self.source})"


# What a next candidate plan changes in the first one (codemods.verify.run.prove).
Adjustment = CarryOver | LeaveInPlace | ValuesInRelease
