"""The C library's layout header is generated from shmring._format and must not drift from it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from shmring import _format as F

GEN = Path(__file__).resolve().parents[2] / "c" / "tools" / "gen_layout.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_layout", GEN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_layout"] = module
    spec.loader.exec_module(module)
    return module


def test_committed_header_is_what_the_generator_writes() -> None:
    gen = _generator()
    assert gen.HEADER.read_text() == gen.render(), (
        "c/include/shmring_layout.h is stale: run `python c/tools/gen_layout.py` and commit it")


def test_max_meta_bytes_is_the_limit_format_enforces() -> None:
    gen = _generator()
    F.check_sizes(2, 1, gen.MAX_META_BYTES, "overwrite")
    with pytest.raises(ValueError, match="meta_bytes"):
        F.check_sizes(2, 1, gen.MAX_META_BYTES + 1, "overwrite")


def test_legacy_signature_is_what_sharedmem_writes(tmp_path: Path) -> None:
    from shmring.legacy import SharedMem

    path = tmp_path / "smem_sig"
    SharedMem.create(str(path), item_size=8, item_alloc=2).close()
    assert int.from_bytes(path.read_bytes()[:4], "little") == _generator().LEGACY_SIGNATURE


def test_identity_offsets_follow_the_packed_struct() -> None:
    text = _generator().render()
    # docs/format.md, line 0 and line 1
    for name, offset in (("SLOTS", 24), ("SLOT_STRIDE", 32), ("CREATED_NS", 56), ("SCHEMA_DTYPE", 72),
                         ("SCHEMA_SHAPE", 80)):
        assert f"#define SHMRING_OFF_{name} {offset}" in text


def test_keywords_offsets_are_those_of_line_8() -> None:
    text = _generator().render()
    # docs/format.md, line 8 and the keywords area right after the header page
    assert "#define SHMRING_OFF_KEYWORDS_LEN 512 " in text
    assert "#define SHMRING_OFF_KEYWORDS 4096 " in text
    assert "#define SHMRING_MAX_KEYWORDS_BYTES 1048576u" in text
