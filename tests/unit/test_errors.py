"""The error tree: what each error also is, and that errors cross processes (pickle) intact."""

from __future__ import annotations

import pickle

import pytest

import shmring
from shmring import _errors

ERRORS = [getattr(_errors, name) for name in _errors.__all__]

#: Each error and the standard exception a caller may catch it as.
ALSO = {
    _errors.SegmentNotFoundError: FileNotFoundError,
    _errors.SegmentExistsError: FileExistsError,
    _errors.SegmentPermissionError: PermissionError,
    _errors.NoSpaceError: OSError,
    _errors.LayoutError: ValueError,
    _errors.FrameError: ValueError,
    _errors.WaitTimeout: TimeoutError,
}


def test_every_error_is_a_shmring_error_exported_from_the_package() -> None:
    for cls in ERRORS:
        assert issubclass(cls, shmring.ShmringError)
        assert getattr(shmring, cls.__name__) is cls, f"{cls.__name__} is not exported by shmring"


@pytest.mark.parametrize(("cls", "standard"), list(ALSO.items()), ids=lambda v: getattr(v, "__name__", ""))
def test_errors_are_also_the_standard_exception_of_the_same_meaning(cls: type, standard: type) -> None:
    err = cls("message")

    assert isinstance(err, standard) and isinstance(err, shmring.ShmringError)
    with pytest.raises(standard):
        raise err


@pytest.mark.parametrize("cls", [_errors.WouldBlock, _errors.ClosedError, _errors.BrokenError])
def test_errors_without_a_standard_meaning_are_not_os_or_value_errors(cls: type) -> None:
    assert not issubclass(cls, (OSError, ValueError))


def test_the_docstring_draws_every_error_of_the_tree() -> None:
    doc = _errors.__doc__ or ""
    for cls in ERRORS:
        assert cls.__name__ in doc, f"{cls.__name__} is missing from the tree in the module docstring"


def test_all_is_sorted() -> None:
    assert _errors.__all__ == sorted(_errors.__all__)


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_error_pickles_with_its_message_type_and_attributes(cls: type) -> None:
    err = cls("segment cam0: expected 4096, found 12", path="/dev/shm/cam0", expected=4096, found=12)

    back = pickle.loads(pickle.dumps(err))

    assert type(back) is cls
    assert str(back) == "segment cam0: expected 4096, found 12"
    assert (back.path, back.expected, back.found) == ("/dev/shm/cam0", 4096, 12)


def test_a_raised_no_space_error_pickles_with_the_numbers_it_names() -> None:
    err = _errors.NoSpaceError("asked for 2,000,000 bytes, 446,464 free", size=2_000_000, free=446_464)

    back = pickle.loads(pickle.dumps(err, protocol=pickle.HIGHEST_PROTOCOL))

    assert (back.size, back.free) == (2_000_000, 446_464)
    assert "446,464 free" in str(back)


def test_an_error_without_attributes_still_pickles_and_prints_its_message() -> None:
    back = pickle.loads(pickle.dumps(_errors.ClosedError("the lock was closed")))

    assert str(back) == "the lock was closed"
    assert back.args == ("the lock was closed",)


def test_the_message_is_what_str_shows_even_for_os_errors() -> None:
    """OSError subclasses would print '[Errno ...]' forms; ours print just the message."""
    assert str(_errors.SegmentNotFoundError("no segment at /dev/shm/x")) == "no segment at /dev/shm/x"
    assert str(_errors.WaitTimeout("no frame after 0.5 s", timeout=0.5)) == "no frame after 0.5 s"


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_error_says_it_lives_in_shmring(cls: type) -> None:
    assert cls.__module__ == "shmring", f"{cls.__name__} reports module {cls.__module__}"
    assert repr(cls).endswith(f"shmring.{cls.__name__}'>")


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_declared_attribute_is_documented_and_defaults_to_none(cls: type) -> None:
    err = cls("message")
    for attribute in getattr(cls, "__annotations__", {}):
        assert f"{attribute}:" in (cls.__doc__ or ""), f"{cls.__name__}.{attribute} is not in its docstring"
        assert getattr(err, attribute) is None, f"{cls.__name__}.{attribute} is not None when not given"


def test_the_reader_table_full_error_pickles_with_its_ring_and_size() -> None:
    err = _errors.ReaderTableFullError("ring 'cam' has 48 live readers already", name="cam", entries=48)

    back = pickle.loads(pickle.dumps(err))

    assert (type(back), back.name, back.entries, str(back)) == (
        shmring.ReaderTableFullError, "cam", 48, "ring 'cam' has 48 live readers already")
    assert not isinstance(back, (OSError, ValueError))


def test_the_docstring_states_the_rule_for_argument_errors() -> None:
    doc = _errors.__doc__ or ""
    assert "ValueError" in doc and "TypeError" in doc and "names\n  the parameter" in doc


BAD_ARGUMENTS = [
    (ValueError, "slots", dict(slots=0, slot_bytes=8)),
    (ValueError, "slot_bytes", dict(slots=2, slot_bytes=0)),
    (ValueError, "meta_bytes", dict(slots=2, slot_bytes=8, meta_bytes=-1)),
    (ValueError, "policy", dict(slots=2, slot_bytes=8, policy="sometimes")),
    (ValueError, "mode", dict(slots=2, slot_bytes=8, mode=0o1777)),
    (ValueError, "shape", dict(slots=2, dtype="u1", shape=())),
    (TypeError, "slots", dict(slots="8", slot_bytes=8)),
]


@pytest.mark.parametrize(("builtin", "parameter", "kwargs"), BAD_ARGUMENTS, ids=[b[1] for b in BAD_ARGUMENTS])
def test_a_bad_argument_is_a_builtin_naming_the_parameter(shm_dir, unique_name: str, builtin: type,
                                                          parameter: str, kwargs: dict) -> None:
    with pytest.raises((ValueError, TypeError)) as caught:
        shmring.Ring.create(unique_name, **kwargs)

    assert isinstance(caught.value, builtin), f"{parameter}: raised {type(caught.value).__name__}"
    assert not isinstance(caught.value, shmring.ShmringError), f"{parameter}: an argument error is a ShmringError"
    assert parameter in str(caught.value), f"the message does not name {parameter}: {caught.value}"
    assert not any(shm_dir.iterdir()), "a refused create left a file behind"


@pytest.mark.parametrize(("name", "builtin"), [(".hidden", ValueError), ("a/b", ValueError), (3, TypeError)])
def test_a_bad_ring_name_is_a_builtin_naming_the_rule(shm_dir, name: object, builtin: type) -> None:
    with pytest.raises(builtin, match="name must be"):
        shmring.Ring.create(name, slots=2, slot_bytes=8)  # type: ignore[arg-type]
