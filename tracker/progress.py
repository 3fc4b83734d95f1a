"""Progress of long commands (backfill, rebuild, verify, purge): a tqdm bar on a terminal,
plain lines otherwise (cron logs, pipes), so scripts parsing the output see stable lines."""
from tqdm import tqdm


class Progress:
    """Feed it absolute positions; it draws a bar named `label` or prints `Progress: <status>`
    lines."""

    def __init__(self, stream, *, label, unit, on_terminal=None):
        self.stream, self.label, self.unit = stream, label, unit
        self.on_terminal = stream.isatty() if on_terminal is None else on_terminal
        self.bar = None

    def update(self, done, total, status=""):
        """`done` of `total` units (None: unknown, a counter with its rate instead of a bar),
        with a short status (counts, rate, errors)."""
        if not self.on_terminal:
            self.stream.write(f"Progress: {status or f'{done}/{total} {self.unit}'}")
            return
        if self.bar is None:
            # tqdm needs the raw file: Django's OutputWrapper ends every write with a newline.
            self.bar = tqdm(total=total, unit=self.unit, desc=self.label, leave=True,
                            file=getattr(self.stream, "_out", self.stream), dynamic_ncols=True)
        self.bar.total = None if total is None else max(total, done)
        self.bar.n = done
        self.bar.set_postfix_str(status, refresh=False)
        self.bar.refresh()

    def note(self, text, stream=None):
        """A line that must not be drawn over by the bar (e.g. a failure on stderr)."""
        target = stream or self.stream
        if self.bar is not None:
            self.bar.clear()
        target.write(text)
        if self.bar is not None:
            self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
