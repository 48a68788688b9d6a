"""Executing notebooks so that a stalled kernel fails fast (developer tooling).

A notebook run can stall without computing anything: the client waits for a cell's
reply while the kernel sits idle in its event loop, because a message between them
was lost (the lost wake-up of ipykernel 7's shell channel thread, see README.md,
"If the book build stalls"). nbclient then waits for the whole cell timeout.

:class:`WatchedNotebookClient` adds a watchdog to nbclient: while a cell runs it
samples the kernel process's CPU time and the cell's messages every few seconds,
and when the kernel has neither used CPU nor sent a message for ``stall_timeout``
seconds it stops the run with :class:`KernelStallError`, saying which cell stalled
and which of the kernel's status messages for it had arrived. The book build then runs
that notebook once more in a fresh kernel (``STALL_RETRIES``) before it gives up.

Used by ``python -m kellynotes.booktools run`` and, as a Sphinx extension (listed in
``_config.yml``), by every notebook execution of the Jupyter Book build.
"""

import asyncio
import time

import psutil
from nbclient import NotebookClient
from traitlets import Float

# Below this share of one core the kernel counts as idle (an idle ipykernel uses ~0.1 %).
IDLE_CPU_SHARE = 0.02
# Fresh-kernel reruns of a stalled notebook in the book build: a stall was seen again with
# ipykernel 6 under heavy load (a reply sat unread in the client's shell socket), once in a
# few hundred chapter runs; a rerun costs one chapter and is reported.
STALL_RETRIES = 1


class KernelStallError(RuntimeError):
    """The kernel went idle while a cell's reply was still awaited; ``diagnosis`` says what
    the watchdog saw (the cell's status messages, the client's shell socket)."""

    def __init__(self, message: str, diagnosis: str = ""):
        super().__init__(message)
        self.diagnosis = diagnosis


class WatchedNotebookClient(NotebookClient):
    """nbclient's NotebookClient with a stall watchdog (see the module docstring)."""

    stall_timeout = Float(
        180.0, help="Seconds of an idle kernel (no CPU, no message) with a reply pending before the run stops."
    ).tag(config=True)
    watch_interval = Float(5.0, help="Seconds between two samples of the kernel's CPU time.").tag(config=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cell_seconds: dict[int, float] = {}  # wall time of each executed code cell

    def process_message(self, msg, cell, cell_index):
        self._last_message = time.monotonic()
        if msg["msg_type"] == "status":
            self._states_seen.append(msg["content"]["execution_state"])
        return super().process_message(msg, cell, cell_index)

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.cell_type != "code" or not cell.source.strip():
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        self._last_message = start = time.monotonic()
        self._states_seen = []
        execution = asyncio.ensure_future(
            super().async_execute_cell(cell, cell_index, execution_count, store_history))
        watchdog = asyncio.ensure_future(self._watch(cell_index))
        await asyncio.wait({execution, watchdog}, return_when=asyncio.FIRST_COMPLETED)
        if execution.done():
            watchdog.cancel()
            self.cell_seconds[cell_index] = time.monotonic() - start
            return execution.result()
        execution.cancel()
        await asyncio.gather(execution, return_exceptions=True)
        # nbclient leaves its kernel-alive poll running when the cell is cancelled; stop it
        # before the kernel is shut down, or it fails noisily on the closed client.
        for task in asyncio.all_tasks():
            if getattr(task.get_coro(), "__name__", "") == "_async_poll_kernel_alive":
                task.cancel()
        raise watchdog.result()

    @staticmethod
    def _kernel_cpu_seconds(process) -> float:
        """CPU seconds of the kernel, its finished children and its running descendants
        (a cell may wait on a subprocess that computes)."""
        times = process.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in process.children(recursive=True):
            try:
                child_times = child.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += child_times.user + child_times.system
        return total

    async def _watch(self, cell_index: int) -> KernelStallError:
        """Return (never raise) the error once the kernel has been idle for stall_timeout."""
        process = psutil.Process(self.km.provisioner.pid)
        cpu = self._kernel_cpu_seconds(process)
        idle_since = time.monotonic()
        while True:
            await asyncio.sleep(self.watch_interval)
            now, before = time.monotonic(), cpu
            try:
                cpu = self._kernel_cpu_seconds(process)
            except psutil.NoSuchProcess:
                return KernelStallError(f"cell {cell_index}: the kernel process has gone")
            if cpu - before > IDLE_CPU_SHARE * self.watch_interval or self._last_message > idle_since:
                idle_since = now
            if now - idle_since >= self.stall_timeout:
                diagnosis = self._diagnosis()
                return KernelStallError(
                    f"cell {cell_index} stalled: for {now - idle_since:.0f} s the kernel (pid {process.pid}) "
                    f"used no CPU and sent no message while its reply was awaited ({diagnosis}). "
                    "A message between kernel and client was lost; nothing is computing. See README.md, "
                    "'If the book build stalls'.", diagnosis)

    def _diagnosis(self) -> str:
        """Which side lost the message: the cell's status messages, and whether a reply sits
        unread in the client's shell socket (a wake-up the client missed)."""
        import zmq

        seen = ", ".join(self._states_seen) or "none"
        try:
            unread = bool(self.kc.shell_channel.socket.getsockopt(zmq.EVENTS) & zmq.POLLIN)
        except Exception:  # a closed or missing socket: nothing to tell
            unread = None
        where = {True: "a message sits unread in the client's shell socket",
                 False: "the client's shell socket holds no unread message", None: "shell socket unreadable"}[unread]
        return f"status messages seen for this cell: {seen}; {where}"


def execute(notebook, cwd=None, *, stall_retries: int = 0, **kwargs) -> WatchedNotebookClient:
    """Execute ``notebook`` in place (in folder ``cwd``) with the stall watchdog.

    Takes the arguments of :func:`nbclient.execute`; extra keyword arguments go to
    :class:`WatchedNotebookClient` (e.g. ``timeout``, ``stall_timeout``). After a stall the
    whole notebook runs again in a fresh kernel, up to ``stall_retries`` times (each retry is
    reported on stderr); a cell error or timeout is never retried. Returns the client, whose
    ``cell_seconds`` holds each code cell's wall time.
    """
    import sys

    resources = {"metadata": {"path": cwd}} if cwd else {}
    for attempt in range(stall_retries + 1):
        client = WatchedNotebookClient(nb=notebook, resources=resources, **kwargs)
        try:
            client.execute()
            return client
        except KernelStallError as error:
            if attempt == stall_retries:
                raise
            print(f"kellynotes: '{title(notebook)}': {error} Running the notebook again in a fresh kernel "
                  f"(retry {attempt + 1} of {stall_retries}).", file=sys.stderr, flush=True)


def slowest_cell(client: WatchedNotebookClient) -> tuple[int, float]:
    """``(cell index, seconds)`` of the slowest code cell of a finished run."""
    if not client.cell_seconds:
        return -1, 0.0
    return max(client.cell_seconds.items(), key=lambda item: item[1])


def title(notebook) -> str:
    """The first level-1 heading of a notebook (how the build log names it)."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "untitled notebook"


def setup(app):
    """Sphinx extension: every notebook the build executes runs under the watchdog.

    myst-nb's cache mode executes through ``jupyter_cache.executors.utils.executenb``
    (nbclient's ``execute``); this points that name at :func:`execute`, with
    ``kellynotes_stall_timeout`` (seconds) from the Sphinx configuration.
    """
    from jupyter_cache.executors import utils
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    app.add_config_value("kellynotes_stall_timeout", 180.0, "env", [float, int])
    app.add_config_value("kellynotes_stall_retries", STALL_RETRIES, "env", [int])

    def watched(notebook, cwd=None, **kwargs):
        client = execute(notebook, cwd=cwd, stall_timeout=float(app.config.kellynotes_stall_timeout),
                         stall_retries=int(app.config.kellynotes_stall_retries), **kwargs)
        index, seconds = slowest_cell(client)
        logger.info(f"kellynotes: '{title(notebook)}': slowest cell #{index} took {seconds:.1f} s "
                    f"(per-cell timeout {kwargs.get('timeout')} s)")
        return client

    utils.executenb = watched
    return {"parallel_read_safe": True, "parallel_write_safe": True}
