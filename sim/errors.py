"""The project's one error type for bad input: it names where the problem is."""

from __future__ import annotations


class CposimError(Exception):
    """Bad input or an impossible request, reported as one line.

    ``where`` is the file (and line) or the option/field that was wrong; the CLI prints
    ``cposim: <where>: <message>`` and exits with status 2.
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = []
        if self.file is not None:
            parts.append(f"{self.file}:{self.line}" if self.line is not None else str(self.file))
        if self.field is not None:
            parts.append(f"field '{self.field}'")
        where = ", ".join(parts)
        text = f"{where}: {self.message}" if where else self.message
        return " ".join(text.split())  # one line, always
