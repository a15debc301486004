"""The click group, error handling and exit codes shared by every subcommand."""

from __future__ import annotations

import errno
import importlib
import sys

import click

from .. import ShmringError, __version__
from ._exit import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

# Modules that add subcommands to `cli` when imported (each owns one group of commands).
COMMAND_MODULES = (
    "shmring.cli.demo._command",
    "shmring.cli._rings",
    "shmring.cli._io",
    "shmring.cli._watch",
    "shmring.cli._legacy",
    "shmring.cli._bench",
    "shmring.cli._channel",
    "shmring.cli._record",
    "shmring.cli._view",
    "shmring.cli._bridge",
)


class _OutputClosed(Exception):
    """Our stdout's reader went away; raised instead of click's own EPIPE handling (exit 1)."""


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except OSError as err:
            # click turns EPIPE into exit status 1; `shmring get X | head -1` is a success.
            if err.errno == errno.EPIPE:
                raise _OutputClosed() from err
            raise


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="shmring")
def cli() -> None:
    """shmring: zero-copy shared-memory rings for frames and messages between processes."""


def _load_commands() -> None:
    for module in COMMAND_MODULES:
        importlib.import_module(module)


def _error(message: str) -> None:
    click.echo(f"shmring: error: {message}", err=True)


def run(argv: list[str] | None = None) -> int:
    """Dispatch ``argv`` and map every outcome to the documented exit codes."""
    _load_commands()
    try:
        # Without standalone mode click returns ctx.exit()'s code instead of raising it.
        code = cli.main(args=argv, prog_name="shmring", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.UsageError as err:
        err.show()
        return EXIT_USAGE
    except (click.Abort, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    except click.ClickException as err:
        _error(err.format_message())
        return EXIT_FAILURE
    except (BrokenPipeError, _OutputClosed):
        return _quiet_broken_pipe()
    except (ShmringError, OSError) as err:
        if isinstance(err, OSError) and err.errno == errno.EPIPE:
            return _quiet_broken_pipe()
        _error(str(err))
        return EXIT_FAILURE
    except (ValueError, TypeError) as err:
        # The library's argument errors (a bad name, slots=0, ...) name the
        # parameter, the rule and the value: that message is the whole answer.
        _error(str(err))
        return EXIT_FAILURE
    return code if isinstance(code, int) else EXIT_OK


def _quiet_broken_pipe() -> int:
    # The reader of our stdout went away (e.g. `| head`): exit quietly, and point
    # stdout at /dev/null so the interpreter's final flush does not complain.
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_OK
