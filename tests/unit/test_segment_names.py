"""Segment names and where they resolve: the rule, its messages, and the directory lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from shmring._segment import NAME_RULE, resolve, segment_dir, validate_name

VALID = ["a", "cam0", "Cam_0-raw.v2", "0", "_x", "-x", "a..b", "x" * 200]
INVALID = {
    "empty": "",
    "dot": ".",
    "dotdot": "..",
    "leading dot": ".hidden",
    "slash": "a/b",
    "parent": "../etc",
    "absolute": "/cam0",
    "too long": "x" * 201,
    "nul": "a\0b",
    "space": "a b",
    "newline at end": "cam0\n",
    "non-ascii": "caméra",
    "backslash": "a\\b",
}


@pytest.mark.parametrize("name", VALID)
def test_valid_names_are_accepted_unchanged(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", INVALID.values(), ids=INVALID.keys())
def test_invalid_names_are_refused_naming_the_rule_and_the_name(name: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_name(name)

    message = str(caught.value)
    assert "segment name must be 1 to 200 characters from [A-Za-z0-9._-], not starting with '.'" in message
    if len(name) <= 60:
        assert repr(name) in message, "the message must show the name refused"


def test_a_very_long_name_is_shown_shortened_with_its_length() -> None:
    with pytest.raises(ValueError, match=r"got 'x{57}'\.\.\. \(201 characters\)"):
        validate_name("x" * 201)


@pytest.mark.parametrize("name", [None, 5, b"cam0"])
def test_a_name_that_is_not_a_string_is_a_type_error(name: object) -> None:
    with pytest.raises(TypeError, match="segment name must be a str"):
        validate_name(name)


def test_the_rule_constant_is_what_the_messages_quote() -> None:
    assert NAME_RULE == "1 to 200 characters from [A-Za-z0-9._-], not starting with '.'"


def test_names_live_in_shmring_dir_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHMRING_DIR", "/run/cameras")

    assert segment_dir() == Path("/run/cameras")
    assert resolve("cam0") == Path("/run/cameras/cam0")


@pytest.mark.parametrize("value", [None, ""])
def test_names_live_in_dev_shm_by_default(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("SHMRING_DIR", raising=False)
    else:
        monkeypatch.setenv("SHMRING_DIR", value)

    assert resolve("cam0") == Path("/dev/shm/cam0")


def test_an_explicit_directory_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHMRING_DIR", "/run/cameras")

    assert resolve("cam0", directory="/tmp/elsewhere") == Path("/tmp/elsewhere/cam0")


def test_a_path_object_is_taken_as_given_without_the_name_rule() -> None:
    explicit = Path("/tmp/smem_camera 1")

    assert resolve(explicit, directory="/ignored") == explicit


def test_a_name_is_checked_before_any_directory_is_joined() -> None:
    with pytest.raises(ValueError, match="segment name must be"):
        resolve("../../etc/passwd", directory="/tmp")
