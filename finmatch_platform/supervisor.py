"""Running a few long-lived processes as one, stopped as one, with the operating system's guarantees.

Shell traps could not do it: bash runs a trap only between foreground commands, cannot trap a
signal that was ignored when it started (a script's ``make run &`` starts it with SIGINT ignored,
and every child inherits that), and leaves its children behind when it is killed with SIGKILL.
Here (``PR_*`` are Linux's; elsewhere those two guarantees are skipped and the rest holds):

- ``run`` forks a *supervisor* below the calling *launcher* (the process make, a terminal or a
  service manager started). The kernel sends the supervisor SIGTERM when the launcher dies, even
  by SIGKILL (``PR_SET_PDEATHSIG``), and the supervisor then stops everything as on Ctrl-C.
- Both are child subreapers (``PR_SET_CHILD_SUBREAPER``): a process orphaned below them (dagster
  dev's code servers and run workers, whatever process group they chose) becomes the
  supervisor's child, so it sees and reaps every descendant and can kill what outlives a stop.
- Each service runs in a session and process group of its own, with SIGINT, SIGTERM and SIGHUP at
  their defaults and a parent-death signal of its own (SIGTERM).
- SIGINT, SIGTERM or SIGHUP to the launcher or the supervisor stops the platform: SIGINT to each
  service's process group (as a terminal's Ctrl-C would, so dagster dev stops its webserver and
  daemon in order), then SIGKILL to every descendant still there after ``grace_s``. SIGINT is
  handled even if it was ignored on entry (a shell's doing, not a wish); SIGHUP is not (nohup's).
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_WATCHED = {*STOP_SIGNALS, signal.SIGCHLD}
# Signals a child must not inherit as ignored (a non-interactive shell's `cmd &` ignores the first
# two; dagster dev maps SIGTERM to whatever SIGINT does, so an ignored SIGINT makes it unstoppable).
# SIGHUP too: in sessions of their own, services never get a terminal's hangup anyway.
_DEFAULT_IN_CHILD = (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
# How often a stop looks for descendants that are not our children (their exit sends us no SIGCHLD).
_POLL_S = 0.2
# SIGKILL cannot be caught, but a process in uninterruptible sleep takes a moment to go.
_KILL_WAIT_S = 5.0


@dataclass(frozen=True)
class Service:
    """One process to run. ``log`` None: it writes to the launcher's own stdout and stderr."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    log: Path | None = None
    # An essential service's exit stops the platform; another's (a one-off job) only reports.
    essential: bool = True
    stop_signal: signal.Signals = signal.SIGINT
    banner: Sequence[str] = ()  # printed once it has started
    failure_note: str = ""  # printed when a non-essential service exits non-zero


# Loaded once here, not between fork and exec in a child.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _prctl(option: int, value: int) -> None:
    if _LIBC is None:
        return
    if _LIBC.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}, {value}) failed")


def _child_setup(supervisor: int) -> None:
    """In each service, between fork and exec (no threads run in the supervisor)."""
    for signum in _DEFAULT_IN_CHILD:
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor:  # the supervisor died before the line above took effect
        os.kill(os.getpid(), signal.SIGKILL)


def _stop_signals() -> tuple[int, ...]:
    """The stop signals, but SIGHUP if it is ignored: ``nohup`` asked to outlive the terminal."""
    return tuple(s for s in STOP_SIGNALS if not (s == signal.SIGHUP and signal.getsignal(s) == signal.SIG_IGN))


class _Wakeup:
    """Signals as bytes on a pipe (``signal.set_wakeup_fd``), so one ``select`` waits for a stop
    request, a child's exit or a timeout, with no race between checking and sleeping."""

    def __init__(self, signals: Sequence[int]) -> None:
        self._read, write = os.pipe()
        for fd in (self._read, write):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        for signum in signals:
            signal.signal(signum, lambda *_: None)

    def wait(self, timeout_s: float | None) -> list[int]:
        ready, _, _ = select.select([self._read], [], [], timeout_s)
        if not ready:
            return []
        with suppress(BlockingIOError):
            return list(os.read(self._read, 512))
        return []


def _reap() -> list[tuple[int, int]]:
    """Every child that has exited (services and adopted orphans): (pid, exit code)."""
    reaped = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append((pid, os.waitstatus_to_exitcode(status)))


def _descendants() -> list[psutil.Process]:
    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []


def _signal_group(pgid: int, signum: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def stop_descendants(wake: _Wakeup, groups: Mapping[int, int], grace_s: float) -> None:
    """Signal each process group in ``groups`` (pgid to signal), wait up to ``grace_s`` for every
    descendant to exit, then SIGKILL the rest, until none is left."""
    for pgid, signum in groups.items():
        _signal_group(pgid, signum)
    deadline = time.monotonic() + grace_s
    while True:
        _reap()
        left = _descendants()
        if not left:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        wake.wait(min(remaining, _POLL_S))
    print(f"Stopping: {len(left)} process(es) still running after {grace_s:.0f} s; killing them", flush=True)
    deadline = time.monotonic() + _KILL_WAIT_S
    while left and time.monotonic() < deadline:
        for pgid in groups:
            _signal_group(pgid, signal.SIGKILL)
        for process in left:
            with suppress(psutil.Error):
                process.kill()
        wake.wait(_POLL_S)
        _reap()
        left = _descendants()


@dataclass
class _Supervisor:
    services: Sequence[Service]
    cwd: Path
    grace_s: float
    stop_signals: tuple[int, ...]
    running: dict[int, Service] = field(default_factory=dict)

    def run(self) -> int:
        wake = _Wakeup([*self.stop_signals, signal.SIGCHLD])
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _WATCHED)  # blocked since before the fork
        try:
            for service in self.services:
                self._start(service)
            code = self._watch(wake)
        except OSError as exc:
            print(f"Could not start the platform: {exc}", file=sys.stderr, flush=True)
            code = 1
        print("Stopping the platform...", flush=True)
        stop_descendants(wake, {pid: s.stop_signal for pid, s in self.running.items()}, self.grace_s)
        print("Stopped.", flush=True)
        return code

    def _start(self, service: Service) -> None:
        supervisor = os.getpid()
        out = service.log.open("wb") if service.log else None
        try:
            process = subprocess.Popen(
                list(service.argv),
                cwd=self.cwd,
                env=dict(service.env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
                start_new_session=True,
                preexec_fn=lambda: _child_setup(supervisor),
            )
        finally:
            if out:
                out.close()
        # Reaped by _reap(), not by Popen: mark it done so Popen never waits for it.
        process.returncode = 0
        self.running[process.pid] = service
        for line in service.banner:
            print(line, flush=True)

    def _watch(self, wake: _Wakeup) -> int:
        """Until a stop signal (0) or an essential service's exit (1)."""
        while True:
            if any(signum in self.stop_signals for signum in wake.wait(None)):
                return 0
            for pid, code in _reap():
                service = self.running.pop(pid, None)
                if service is None:
                    continue  # an adopted orphan
                if service.essential:
                    print(f"{service.name} exited with code {code}", file=sys.stderr, flush=True)
                    return 1
                if code != 0 and service.failure_note:
                    print(service.failure_note, flush=True)


def run(services: Sequence[Service], *, cwd: Path, grace_s: float) -> int:
    """Run ``services`` until a stop signal or an essential service's exit; return the exit code
    (0 when stopped by a signal, as Ctrl-C is the way to stop, not an error)."""
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    launcher, stop_signals = os.getpid(), _stop_signals()
    # Held until each side has its handlers: a stop request during start-up waits, it is not lost
    # (nor ignored, when the launcher was started with SIGINT ignored).
    signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        code = 1
        try:
            _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() == launcher:  # else the launcher is gone already: start nothing
                code = _Supervisor(services, cwd, grace_s, stop_signals).run()
        except BaseException:  # noqa: B036 - the forked child must never return into the caller
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return _follow(child, grace_s, stop_signals)


def _follow(supervisor: int, grace_s: float, stop_signals: tuple[int, ...]) -> int:
    """In the launcher: pass stop signals on to the supervisor, and wait for it. A terminal's
    Ctrl-C reaches both; the supervisor treats the second as the same request."""

    def forward(signum: int, _frame: object) -> None:
        with suppress(ProcessLookupError):
            os.kill(supervisor, signum)

    for signum in stop_signals:
        signal.signal(signum, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _WATCHED)
    _, status = os.waitpid(supervisor, 0)  # retried after each forwarded signal (PEP 475)
    code = os.waitstatus_to_exitcode(status)
    # A supervisor killed outright leaves its services to us, the next subreaper up.
    if leftovers := _descendants():
        wake = _Wakeup([signal.SIGCHLD])
        for process in leftovers:
            with suppress(psutil.Error):
                process.terminate()
        stop_descendants(wake, {}, grace_s)
    return code if code >= 0 else 1
