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
