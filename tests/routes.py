"""Every route of the URL conf, with its parameters filled from a set of known objects.

Tests that must cover every page and API answer (who may see what, where sensitive values
appear) walk this list instead of a hand-made one, so a new route cannot slip past them.
"""

import re
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

# A route whose parameters are not ours to fill (Django's own, or format suffixes of DRF that
# answer exactly as the plain route does).
SKIPPED = re.compile(r"^\^?(admin/|i18n/|static/|media/)|\(\?P<format>|<drf_format_suffix")


@dataclass(frozen=True)
class Route:
    pattern: str  # as written in the URL conf, e.g. "cases/<int:pk>/"
    name: str | None

    def fill(self, values: dict[str, object]) -> str:
        """Return the path with every parameter replaced by its value from `values`."""
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), self.pattern)
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(values[m.group(1)]), path)
        return "/" + path.lstrip("^").rstrip("$")

    @property
    def parameters(self) -> list[str]:
        return re.findall(r"<(?:\w+:)?(\w+)>", self.pattern) + re.findall(
            r"\(\?P<(\w+)>", self.pattern
        )


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield Route(prefix + str(entry.pattern), entry.name)


def all_routes() -> list[Route]:
    """Return every route Beacon itself serves (the admin is covered by its own rows)."""
    return [r for r in _walk(get_resolver().url_patterns) if not SKIPPED.search(r.pattern)]
