"""libshmring's legacy offsets (c/src/legacy.h) are the ones Python's legacy format names."""

from __future__ import annotations

import re
from pathlib import Path

from shmring._locks import DEATH_RECHECK_S
from shmring.legacy import _files
from shmring.legacy import _format as fmt

HEADER = Path(__file__).resolve().parents[2] / "c" / "src" / "legacy.h"


def _defines() -> dict[str, str]:
    return {m[1]: m[2] for m in re.finditer(r"#define (LEG_\w+) (\S+)", HEADER.read_text())}


def test_every_c_legacy_offset_is_pythons() -> None:
    c = _defines()
    expected = {
        "LEG_MEM_HEADER": fmt.MEM_HEADER.size, "LEG_BUF_HEADER": fmt.BUF_HEADER.size,
        "LEG_OFF_SIGNATURE": fmt.OFF_SIGNATURE, "LEG_OFF_MEMSIZE": fmt.OFF_MEMSIZE, "LEG_OFF_FLAGS": fmt.OFF_FLAGS,
        "LEG_OFF_ITEM_SIZE": fmt.OFF_ITEM_SIZE, "LEG_OFF_ITEM_ALLOC": fmt.OFF_ITEM_ALLOC,
        "LEG_OFF_HEAD": fmt.OFF_HEAD, "LEG_OFF_TAIL": fmt.OFF_TAIL, "LEG_OFF_COUNT": fmt.OFF_COUNT,
        "LEG_MSG_SIZE": fmt.MSG_FILE_SIZE, "LEG_MSG_MAX": fmt.MSG_MAX_TEXT, "LEG_LOCK_SIZE": fmt.LOCK_SIZE,
        "LEG_LOCK_WAKE": fmt.LOCK_WAKE, "LEG_DATA_WAKE": fmt.DATA_WAKE,
        "LEG_UPDATE_BYTE": fmt.UPDATE_LOCK_BYTE, "LEG_EXCHANGE_BYTE": fmt.EXCHANGE_LOCK_BYTE,
    }
    found = {name: int(c[name].rstrip("u"), 0) for name in expected if name in c}
    assert found == expected, "c/src/legacy.h disagrees with shmring.legacy._format"
    assert c["LEG_LOCK_MAGIC"] == f'"{fmt.LOCK_MAGIC.decode()}"'
    assert c["LEG_SIGNATURE"] == "SHMRING_LEGACY_SIGNATURE"  # generated from the same source
    # The same waits: a dead lock holder is noticed as soon, a stuck one given up on as late.
    assert float(c["LEG_DEATH_RECHECK_S"]) == DEATH_RECHECK_S
    assert float(c["LEG_LOCK_TIMEOUT_S"]) == _files.LOCK_TIMEOUT
