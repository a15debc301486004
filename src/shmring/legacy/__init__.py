"""The original ``io.files.SharedMem``: its exact bytes, with a working lock and wake-ups.

Existing C++ grabbers, Python scripts and MATLAB code share one file layout
(see ``docs/format-legacy.md``); :class:`SharedMem` reads and writes it exactly,
so shmring works beside them unmodified::

    from shmring.legacy import SharedMem

    mem = SharedMem.create("camera1", item_size=320 * 240, item_alloc=8)  # /tmp/smem_camera1
    mem.put_buf(frame_bytes, width=320, height=240)
    buf = mem.get_buf()          # Buf(data, put_counter, width, height, flags) or None

Seed method -> counterpart: ``SharedMem``/``open`` -> :meth:`SharedMem.create`,
:meth:`SharedMem.open`, :meth:`SharedMem.create_raw`, :meth:`SharedMem.open_raw`;
``close`` -> :meth:`SharedMem.close`; ``delete`` -> :meth:`SharedMem.delete`;
``doGetBuf``/``getBuf`` -> :meth:`SharedMem.get_buf`; ``read``/``write`` ->
:meth:`SharedMem.read`/:meth:`SharedMem.write`; ``send``/``answer`` ->
:func:`send`/:func:`answer`; the ``unitTest*`` self-tests -> ``shmring legacy``
commands; the ``Locker(...)`` it wished for -> :class:`Locker`.

This package is the one public path of the legacy API; ``shmring.SharedMem``
and ``shmring.Locker`` are aliases of the classes here. Its modules form a
line, each importing only those before it: ``_format`` (every byte) ->
``_checks`` (the caller's arguments) -> ``_buffers`` -> ``_queue`` ->
``_locker`` -> ``_raw``, ``_files``, ``_message``, ``_listener`` ->
``_shared_mem``.
"""

from __future__ import annotations

from ._files import inspect, legacy_path
from ._format import BUFH_MAT_RGB, BUFH_UYVY, MemHeader
from ._listener import BufListener
from ._locker import Locker, lock_files, remove_unused_lock_file
from ._message import answer, send
from ._queue import Buf
from ._shared_mem import SharedMem

__all__ = [
    "BUFH_MAT_RGB",
    "BUFH_UYVY",
    "Buf",
    "BufListener",
    "Locker",
    "MemHeader",
    "SharedMem",
    "answer",
    "inspect",
    "legacy_path",
    "lock_files",
    "remove_unused_lock_file",
    "send",
]
