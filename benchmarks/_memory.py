"""The resident memory of this process, as the benchmarks measure it (Linux)."""


def rss_bytes(field="VmHWM"):
    """``VmHWM`` (the peak since start or the last reset) or ``VmRSS`` (now), in bytes.

    Read from ``/proc/self/status``: the high-water mark of this process's
    own pages (``ru_maxrss`` of a spawned child also counts the parent's).
    """
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not found in /proc/self/status")
