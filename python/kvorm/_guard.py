"""Keeps kvorm_close away from running calls: the core allows no call during or after kvorm_close."""
import threading

from .errors import MisuseError


class CallGuard:
    """Counts the calls in flight; close() refuses new calls, then waits for the running ones to end.

    A call marks itself running before it looks at `closed` (list.append and list.pop are atomic), and close sets
    `closed` before it looks at the running calls: so either the call sees `closed` and backs out, or close sees
    the call and waits for it. No lock is taken on the way in or out, which costs a call less than a lock would."""

    def __init__(self) -> None:
        self._running: list = []
        self._closed = False
        self._idle = threading.Condition()

    @property
    def closed(self) -> bool:
        return self._closed

    def enter(self) -> None:
        self._running.append(None)
        if self._closed:
            self.leave()
            raise MisuseError("the db is closed: open it again to make calls")

    def leave(self) -> None:
        self._running.pop()
        if self._closed and not self._running:
            with self._idle:
                self._idle.notify_all()

    def close(self) -> bool:
        """True for the call that closed it (once everything running has ended), False if already closed."""
        with self._idle:
            if self._closed:
                return False
            self._closed = True
            while self._running:
                # a call that leaves after closed was set notifies; the timeout is a bound, not the mechanism
                self._idle.wait(0.01)
            return True
