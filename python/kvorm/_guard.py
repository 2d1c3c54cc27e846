"""Keeps kvorm_close away from running calls: the core allows no call during or after kvorm_close."""
import threading

from .errors import MisuseError


class CallGuard:
    """Counts the calls in flight; close() refuses new calls, then waits for the running ones to end.

    A call adds itself to `running` before it looks at `closed` (list.append and list.pop are atomic), and close
    sets `closed` before it looks at `running`: so either the call sees `closed` and backs out, or close sees the
    call and waits for it. No lock is taken on the way in or out, which costs a call less than a lock would.
    Db's hot path follows this protocol with the attributes themselves (a method call there costs: enter and
    leave are what it writes out)."""

    def __init__(self) -> None:
        self.running: list = []
        self.closed = False
        self._idle = threading.Condition()

    def enter(self) -> None:
        self.running.append(None)
        if self.closed:
            self.leave()
            raise self.closed_error()

    def leave(self) -> None:
        self.running.pop()
        if self.closed:
            self.wake_closer()

    @staticmethod
    def closed_error() -> MisuseError:
        return MisuseError("the db is closed: open it again to make calls")

    def wake_closer(self) -> None:
        """Called by a call that ended after close began: the last one wakes close."""
        if not self.running:
            with self._idle:
                self._idle.notify_all()

    def close(self) -> bool:
        """True for the call that closed it (once everything running has ended), False if already closed."""
        with self._idle:
            if self.closed:
                return False
            self.closed = True
            while self.running:
                # a call that leaves after closed was set notifies; the timeout is a bound, not the mechanism
                self._idle.wait(0.01)
            return True
