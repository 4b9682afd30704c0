"""argon2id checks on one memory area kept between sign-ins (issue 10).

A check of a password hash at m = 19 MiB needs 19 MiB of blocks. argon2-cffi asks malloc for
them, and a worker's malloc (`idp.tune_malloc`) maps them afresh and unmaps them after every
check, so the kernel zeroes 19 MiB for each sign-in: 2-4 ms of kernel time against a hash of
about 20 ms, even on transparent huge pages (docs/benchmarks.md). Keeping glibc's heap block
instead (its "dynamic threshold") would keep the 19 MiB resident for the worker's whole life.

`BlockArea` is the middle way. libargon2 lets its caller hand it the blocks (the
`allocate_cbk`/`free_cbk` of `argon2_context`); a check here gets them from one private
mapping of the process, on transparent huge pages (MADV_HUGEPAGE, 2 MiB aligned), which stays
mapped while sign-ins keep coming and is unmapped once none came for `keep_seconds`
(`[argon2] keep_blocks_seconds`). libargon2 still wipes the blocks after each check (its
`clear_internal_memory`, before it calls `free_cbk`), so no secret outlives the check.

Only what is certain takes this way: an argon2id v=19 PHC string with sane parameters, the area
free (a second thread checking at the same moment takes the usual way) and the area mappable.
Anything else answers None, and the caller checks the usual way (argon2-cffi's
`PasswordHasher.verify`), so every hash argon2-cffi accepts is still accepted and every answer
is the same (tests/unit/test_argon2_blocks.py compares both ways).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import mmap
import os
import re
import threading
import time
import weakref

from argon2.low_level import ffi, lib

HUGE_PAGE = 2 << 20
# The PHC string argon2-cffi writes for argon2id (version 0x13 = 19, the only one it writes).
_ARGON2ID = re.compile(
    r"\$argon2id\$v=19\$m=([1-9][0-9]{0,8}),t=([1-9][0-9]{0,3}),p=([1-9][0-9]{0,2})"
    r"\$([A-Za-z0-9+/]{11,})\$([A-Za-z0-9+/]{6,})"
)

_areas: weakref.WeakSet[BlockArea] = weakref.WeakSet()


def _unpadded_b64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


class BlockArea:
    """One process's reusable, huge-page-backed memory for argon2id's blocks."""

    def __init__(self, keep_seconds: float, max_bytes: int) -> None:
        self.keep_seconds = keep_seconds
        self.max_bytes = max_bytes
        # libargon2 calls these with the GIL released around it; cffi takes the GIL back for
        # the call. `error=` is what an exception would return (none is expected).
        self._allocate = ffi.callback("allocate_fptr", self._give, error=-1)
        self._release = ffi.callback("deallocate_fptr", self._take_back)
        self._reset()
        _areas.add(self)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._map: mmap.mmap | None = None
        self._view = None  # cffi's view of _map (must be released before _map is closed)
        self._start = 0  # address of the first 2 MiB boundary in _map
        self._size = 0  # usable bytes from _start
        self._last = 0.0  # time.monotonic() of the last check
        self._reaper: threading.Thread | None = None

    @property
    def mapped(self) -> bool:
        return self._map is not None

    def verify(self, encoded: str, password: str) -> bool | None:
        """True or False as argon2id answers; None when this way cannot answer (the caller then
        checks the usual way)."""
        found = _ARGON2ID.fullmatch(encoded)
        if found is None:
            return None
        m_cost, t_cost, lanes = (int(found.group(i)) for i in (1, 2, 3))
        try:
            salt, digest = _unpadded_b64(found.group(4)), _unpadded_b64(found.group(5))
        except (binascii.Error, ValueError):
            return None
        # The reaper holds the lock for microseconds; another check holds it for a whole hash.
        if m_cost * 1024 > self.max_bytes or not self._lock.acquire(timeout=0.001):
            return None
        try:
            out = ffi.new("uint8_t[]", len(digest))
            secret = password.encode()
            ctx = ffi.new("argon2_context *", {
                "out": out, "outlen": len(digest),
                "pwd": ffi.new("uint8_t[]", secret), "pwdlen": len(secret),
                "salt": ffi.new("uint8_t[]", salt), "saltlen": len(salt),
                "secret": ffi.NULL, "secretlen": 0, "ad": ffi.NULL, "adlen": 0,
                "t_cost": t_cost, "m_cost": m_cost, "lanes": lanes, "threads": lanes,
                "version": 19, "allocate_cbk": self._allocate, "free_cbk": self._release,
                "flags": lib.ARGON2_DEFAULT_FLAGS,
            })
            status = lib.argon2_ctx(ctx, lib.Argon2_id)
            self._last = time.monotonic()
            if self._map is not None and self._reaper is None:
                self._reaper = threading.Thread(target=self._reap, name="argon2-blocks",
                                                daemon=True)
                self._reaper.start()
        finally:
            self._lock.release()
        if status != lib.ARGON2_OK:
            return None  # e.g. a salt or digest too short for libargon2: its own error there
        return hmac.compare_digest(bytes(out), digest)

    # libargon2's callbacks (under self._lock, held by verify) ----------------------------------

    def _give(self, memory, size: int) -> int:  # type: ignore[no-untyped-def]
        memory[0] = ffi.NULL  # libargon2 reports an allocation error when it stays NULL
        if size > self.max_bytes:
            return -1
        if size > self._size:
            self._unmap()
            try:
                area = mmap.mmap(-1, size + HUGE_PAGE, flags=mmap.MAP_PRIVATE)
            except OSError:
                return -1
            if hasattr(mmap, "MADV_HUGEPAGE"):
                try:
                    area.madvise(mmap.MADV_HUGEPAGE)
                except OSError:  # a kernel without transparent huge pages: 4 KiB pages
                    pass
            self._map, self._view = area, ffi.from_buffer(area)
            address = int(ffi.cast("uintptr_t", self._view))
            self._start = -(-address // HUGE_PAGE) * HUGE_PAGE
            self._size = size + HUGE_PAGE - (self._start - address)
        memory[0] = ffi.cast("uint8_t *", self._start)
        return 0

    def _take_back(self, memory, size: int) -> None:  # type: ignore[no-untyped-def]
        """The blocks stay mapped for the next check (libargon2 has wiped them)."""

    # ---------------------------------------------------------------------------------------------

    def _unmap(self) -> None:
        if self._view is not None:
            ffi.release(self._view)
        if self._map is not None:
            self._map.close()
        self._map, self._view, self._start, self._size = None, None, 0, 0

    def _reap(self) -> None:
        """Unmap the area once no check used it for keep_seconds."""
        while True:
            with self._lock:
                idle = time.monotonic() - self._last
                if self._map is None or idle >= self.keep_seconds:
                    self._unmap()
                    self._reaper = None
                    return
            time.sleep(self.keep_seconds - idle)


def _after_fork_in_child() -> None:
    # A forked worker starts without the area: its reaper thread is not there, and the
    # parent's mapping, copied on write, is not the child's to keep.
    for area in list(_areas):
        area._view = None  # the parent's view: dropped with the copy
        area._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
