"""``unlink`` on a handle or on its class: ``ring.unlink()`` and ``Ring.unlink("name")``.

Users reach for ``Ring.unlink("cam0")`` as they would for ``os.unlink``; as a plain
method that called the handle's code with a string for ``self`` and failed with an
AttributeError about ``_mapping``. Called on the class, the name is opened first, so
a file that is not a ring (or channel) is refused with the opener's error rather
than removed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar, overload

from ._segment import NameOrPath


class _Unlinkable(Protocol):
    def _unlink_handle(self) -> None: ...
    def __enter__(self) -> Any: ...
    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> Any: ...


H = TypeVar("H", bound=_Unlinkable)


class HandleOrName(Generic[H]):
    """The ``unlink`` attribute of ``Ring`` and ``Channel``.

    ``handle.unlink()`` removes that handle's name; ``Cls.unlink(name, directory=None)``
    opens ``name`` with ``Cls.open`` (validating it) and removes it. Either way,
    processes that have it mapped keep working until they close.
    """

    @overload
    def __get__(self, obj: None, owner: type[H]) -> Callable[..., None]: ...
    @overload
    def __get__(self, obj: H, owner: type[H]) -> Callable[[], None]: ...

    def __get__(self, obj: H | None, owner: type[H]) -> Callable[..., None]:
        if obj is not None:
            return obj._unlink_handle
        opener: Callable[..., H] = owner.open  # type: ignore[attr-defined]

        def unlink(name: NameOrPath, directory: str | os.PathLike[str] | None = None) -> None:
            with opener(name, directory=directory) as handle:
                handle._unlink_handle()

        unlink.__doc__ = (f"Remove the {owner.__name__.lower()} ``name`` for everyone; it is opened, and so "
                          "checked, first. Processes that have it mapped keep working until they close.")
        return unlink
