"""A tiny plugin registry: a backend becomes available by decorating it in its own file.

FACE_DETECTORS = Registry("face detector")

@FACE_DETECTORS.register("yunet", description="libfacedetection, fast on CPU")
class YuNetDetector(FaceDetector): ...

FACE_DETECTORS.create("yunet", confidence=0.6)
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """Raised for an unknown or unavailable plugin name; the message lists what exists."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


@dataclass
class Entry(Generic[T]):
    name: str
    obj: T
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """Maps names to plugin classes or functions of one kind."""

    def __init__(self, kind: str, discover: str | None = None):
        """``discover`` names a package whose modules are imported on first use, so that
        every file in it registers itself (adding a backend is adding a file)."""
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._discover = discover
        self._discovered = discover is None

    def register(self, name: str, description: str = "", **meta: Any) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = Entry(name, obj, description, meta)
            return obj

        return decorator

    def _ensure_discovered(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        package = importlib.import_module(self._discover)  # type: ignore[arg-type]
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{package.__name__}.{info.name}")

    def names(self) -> list[str]:
        self._ensure_discovered()
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        self._ensure_discovered()
        return [self._entries[n] for n in sorted(self._entries)]

    def get(self, name: str) -> T:
        self._ensure_discovered()
        try:
            return self._entries[name].obj
        except KeyError:
            raise RegistryError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names()) or 'none'}") from None

    def entry(self, name: str) -> Entry[T]:
        """The registration record (object, description, metadata) of ``name``."""
        self.get(name)  # raises the usual error for an unknown name
        return self._entries[name]

    def create(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Instantiate (or call) the plugin registered under ``name``."""
        return self.get(name)(*args, **kwargs)  # type: ignore[operator]

    def __contains__(self, name: str) -> bool:
        self._ensure_discovered()
        return name in self._entries
