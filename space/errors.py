"""The one error type a bad spec raises: it names the field and what is allowed."""

from __future__ import annotations

from collections.abc import Iterable


class SpecError(ValueError):
    """A spec that cannot describe a network; ``field`` says where, ``allowed`` what would do."""

    def __init__(self, field: str, message: str, allowed: Iterable[object] | None = None) -> None:
        self.field = field
        self.message = message
        self.allowed = tuple(allowed) if allowed is not None else None
        text = f"{field}: {message}"
        if self.allowed:
            text += " (allowed: " + ", ".join(str(a) for a in self.allowed) + ")"
        super().__init__(text)

    def within(self, prefix: str) -> SpecError:
        """The same error, its field placed under ``prefix`` (a unit's path in a spec file)."""
        return SpecError(f"{prefix}.{self.field}", self.message, self.allowed)


def require(ok: bool, field: str, message: str, allowed: Iterable[object] | None = None) -> None:
    """Raise a SpecError unless ``ok``."""
    if not ok:
        raise SpecError(field, message, allowed)
