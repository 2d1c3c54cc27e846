"""Keeps kvorm_close away from running calls: the core allows no call during or after kvorm_close."""
import threading

from .errors import MisuseError


class CallGuard:
    """Counts the calls in flight; close() refuses new calls, then waits for the running ones to end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._running = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def enter(self) -> None:
        with self._lock:
            if self._closed:
                raise MisuseError("the db is closed: open it again to make calls")
            self._running += 1

    def leave(self) -> None:
        with self._lock:
            self._running -= 1
            if self._closed and self._running == 0:
                self._idle.notify_all()

    def close(self) -> bool:
        """True for the call that closed it (once everything running has ended), False if already closed."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            while self._running:
                self._idle.wait()
            return True
