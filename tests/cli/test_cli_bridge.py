"""``shmring bridge`` argument handling and key making, through the real entry point."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import Run


def test_keys_makes_a_server_pair_and_an_allowed_client(shmring: Run, tmp_path: Path) -> None:
    done = shmring("bridge", "keys", str(tmp_path / "k"), "--client", "lab2")
    assert "server" in done.stdout and "lab2.key_secret" in done.stdout
    assert (tmp_path / "k" / "allowed" / "lab2.key").is_file()
    assert "copy" in done.stderr and "secret files stay private" in done.stderr


def test_send_of_a_missing_ring_fails_naming_it(shmring: Run) -> None:
    done = shmring("bridge", "send", "no-such-ring", "--bind", "tcp://127.0.0.1:0", check=1)
    assert done.stderr.startswith("shmring: error:") and "no-such-ring" in done.stderr


def test_a_bad_endpoint_is_a_usage_error(shmring: Run) -> None:
    done = shmring("bridge", "recv", "127.0.0.1:5555", "--into", "x", check=2)
    assert "connect must be tcp://HOST:PORT" in done.stderr


def test_recv_needs_into(shmring: Run) -> None:
    done = shmring("bridge", "recv", "tcp://127.0.0.1:5555", check=2)
    assert "--into" in done.stderr


def test_missing_curve_keys_fail_naming_the_file(shmring: Run, tmp_path: Path) -> None:
    done = shmring("bridge", "recv", "tcp://127.0.0.1:5555", "--into", "x", "--curve-keys", str(tmp_path),
                   check=1)
    assert f"{tmp_path}/server.key" in done.stderr and "shmring bridge keys" in done.stderr


def test_recv_into_a_ring_that_has_a_writer_fails_naming_it(shmring: Run) -> None:
    import shmring as lib

    with lib.Ring.create("taken", slots=2, slot_bytes=64) as ring, ring.writer():
        done = shmring("bridge", "recv", "tcp://127.0.0.1:5555", "--into", "taken", check=1)
    assert "already has a live writer" in done.stderr and "taken" in done.stderr
