"""What a codemod is pointed at: which HelmReleases, which values, which Job manifests.

The defaults are the litellm case; recipes (codemods/recipes) set them for other charts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class ReleaseSelector:
    """HelmReleases to act on: those whose values hold values_key, or whose chart is chart."""

    values_key: str = "litellm-helm"
    chart: str | None = None  # a chart name: with it, the values path is created when absent

    @property
    def needles(self) -> tuple[bytes, ...]:
        return tuple(n.encode() for n in (self.values_key, self.chart) if n)


@dataclass(frozen=True)
class JobMatcher:
    """Job manifests to place: metadata.name matches name, and the document matches text."""

    name: str = r"(?i)migrat"
    text: str = r"(?i)litellm"

    @cached_property
    def name_re(self) -> re.Pattern[str]:
        return re.compile(self.name)

    @cached_property
    def text_re(self) -> re.Pattern[str]:
        return re.compile(self.text)

    @cached_property
    def bytes_res(self) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
        """Cheap pre-filter: both patterns must occur somewhere in the file's bytes."""
        return re.compile(self.name.encode()), re.compile(self.text.encode())


LITELLM_RELEASE = ReleaseSelector()
LITELLM_JOB = JobMatcher()


def as_release(value: ReleaseSelector | dict | None) -> ReleaseSelector:
    if value is None:
        return LITELLM_RELEASE
    return value if isinstance(value, ReleaseSelector) else ReleaseSelector(**value)


def as_job(value: JobMatcher | dict | None) -> JobMatcher:
    if value is None:
        return LITELLM_JOB
    return value if isinstance(value, JobMatcher) else JobMatcher(**value)
