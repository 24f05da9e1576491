# SPDX-License-Identifier: Apache-2.0
"""Read the xenradclock clock page from Python through ctypes.

Build the shim next to this file first:

    gcc -O2 -shared -fPIC -o libxenradclock.so xrc_shim.c

then:

    from xenradclock import Clock
    with Clock("/run/xenradclock/clock") as c:
        now = c.read_tsc(identity)            # x86-64, tsc pages
        now = c.read(kind, count, identity)   # any counter read by the caller
        print(now.ns, now.status_name, now.max_error_ns)

Times are exact: sec + frac/2**64 seconds since the UNIX epoch (UTC). The
module is also a command used by the Go cross-check test:

    python3 xenradclock.py LIB PAGE KIND IDENTITY COUNT...
"""

import ctypes
import os
import sys

STATUS_NAMES = ["invalid", "fresh", "late", "void", "counter-mismatch", "disrupted"]
MODE_NAMES = ["host", "dependent", "independent"]
FLAG_DISRUPTION_IMMINENT = 0x01
FLAG_DISRUPTED = 0x02
ERROR_NAMES = {-1: "system call failed", -2: "never published", -3: "not a clock page (magic)",
               -4: "unsupported version", -5: "truncated or oversized", -6: "writer busy past the deadline",
               -7: "invalid record", -8: "counter read failed",
               -9: "not a regular file (a FIFO, device or directory)"}


def _err(code):
    return "error %d (%s)" % (code, ERROR_NAMES.get(code, "unknown"))


class _Time(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_int64), ("frac", ctypes.c_uint64)]


class Now(ctypes.Structure):
    """struct xrc_now."""

    _fields_ = [
        ("status", ctypes.c_int),
        ("clock_state", ctypes.c_uint8),
        ("count", ctypes.c_uint64),
        ("time", _Time),
        ("earliest", _Time),
        ("latest", _Time),
        ("error_bound_ns", ctypes.c_uint64),
        ("max_error_ns", ctypes.c_uint64),
        ("generation", ctypes.c_uint64),
        ("mode", ctypes.c_uint8),
        ("page_flags", ctypes.c_uint8),
    ]

    @property
    def mode_name(self):
        """Who publishes the page: host, dependent or independent."""
        return MODE_NAMES[self.mode] if self.mode < len(MODE_NAMES) else str(self.mode)

    @property
    def disruption_imminent(self):
        return bool(self.page_flags & FLAG_DISRUPTION_IMMINENT)

    @property
    def disrupted(self):
        return bool(self.page_flags & FLAG_DISRUPTED)

    @property
    def status_name(self):
        return STATUS_NAMES[self.status] if 0 <= self.status < len(STATUS_NAMES) else str(self.status)

    @property
    def ns(self):
        """The time in ns since the epoch, rounded to nearest (exact int)."""
        t = self.time
        return t.sec * 1_000_000_000 + ((t.frac * 1_000_000_000 + (1 << 63)) >> 64)


class ClockError(OSError):
    pass


class Clock:
    """A mapped clock page with a caching reader (one thread at a time)."""

    def __init__(self, path="/run/xenradclock/clock", lib=None):
        if lib is None:
            lib = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libxenradclock.so")
        self._lib = ctypes.CDLL(lib)
        self._lib.xrc_py_open.restype = ctypes.c_void_p
        self._lib.xrc_py_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
        self._lib.xrc_py_close.argtypes = [ctypes.c_void_p]
        self._lib.xrc_py_read.argtypes = [ctypes.c_void_p, ctypes.c_uint16, ctypes.c_uint64,
                                          ctypes.c_uint64, ctypes.POINTER(Now)]
        self._lib.xrc_py_sizeof_now.restype = ctypes.c_ulong
        if self._lib.xrc_py_sizeof_now() != ctypes.sizeof(Now):
            raise ClockError("struct xrc_now layout differs between C and this module")
        err = ctypes.c_int(0)
        self._h = self._lib.xrc_py_open(path.encode(), ctypes.byref(err))
        if not self._h:
            raise ClockError("xrc_open %s: %s" % (path, _err(err.value)))

    def close(self):
        if self._h:
            self._lib.xrc_py_close(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def read(self, kind, count, identity):
        """Evaluate the clock at a counter value (and identity) the caller read."""
        n = Now()
        err = self._lib.xrc_py_read(self._h, kind, count, identity, ctypes.byref(n))
        if err:
            raise ClockError("xrc_read: %s" % _err(err))
        return n

    def read_tsc(self, identity):
        """Read the clock with the built-in RDTSC counter (x86-64)."""
        n = Now()
        f = self._lib.xrc_py_read_tsc
        f.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.POINTER(Now)]
        err = f(self._h, identity, ctypes.byref(n))
        if err:
            raise ClockError("xrc_read: %s" % _err(err))
        return n


def _fmt(n):
    def t(x):
        return "%d %016x" % (x.sec, x.frac)

    ns = n.ns if n.time.sec >= 0 else 0
    return "%d %s %s %s %d %d %d" % (n.status, t(n.time), t(n.earliest), t(n.latest),
                                      n.max_error_ns, n.error_bound_ns, ns)


def main(argv):
    if len(argv) < 6:
        print("usage: xenradclock.py LIB PAGE KIND IDENTITY COUNT...", file=sys.stderr)
        return 2
    lib, page, kind, identity = argv[1], argv[2], int(argv[3]), int(argv[4])
    with Clock(page, lib) as c:
        for count in argv[5:]:
            print(_fmt(c.read(kind, int(count), identity)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
