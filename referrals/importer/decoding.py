"""Step 1 of the import: the file's bytes → numbered text records.

:func:`open_records` checks the start of the file (empty, UTF-16, binary: the whole file is
refused), then returns an iterator of ``(number, text, problem)``, one per record:

* line endings may be ``\\r\\n``, ``\\n`` or ``\\r`` alone (old Mac exports): the first chunk
  decides, the rest of the file is read the same way;
* a record is one line, or several when a quoted field holds line breaks (a multi-line
  address, as spreadsheets export it); ``number`` counts records, header = 1, which is the
  row number a spreadsheet shows for the same file;
* each record is decoded as UTF-8, or as Windows-1252 when it is not valid UTF-8, so a file
  whose later chunks change encoding is still read right;
* ``problem`` is a French reason when the record cannot be read (NUL bytes, undecodable,
  too long, quote never closed): that record is rejected, the others are read.

The file is read by chunks of ``READ_CHUNK`` bytes: memory stays flat with its size.
"""

from __future__ import annotations

import re

READ_CHUNK = 64 * 1024
MAX_LINE_BYTES = 64 * 1024  # a longer "line" is not CSV text
MAX_RECORD_LINES = 20  # lines of one record (a quoted field with line breaks), at most
BINARY_SHARE = 0.05  # more control bytes than that in the first chunk: not a text file

TOO_LONG = "Ligne trop longue : ce n'est pas une ligne de CSV."
NUL_BYTES = "Ligne illisible : contenu binaire."
UNDECODABLE = "Ligne illisible : caractères non reconnus (encodage ni UTF-8 ni Windows-1252)."
UNCLOSED_QUOTE = "Ligne illisible\u00a0: guillemet ouvert et jamais fermé."


class ImportRefused(Exception):
    """The whole file is refused; ``message`` (French) says why."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


_BINARY = "Le fichier n'est pas un fichier texte CSV (contenu binaire) : rien n'a été importé."

# Bytes that are neither text nor the tab, line feed and carriage return of a CSV file.
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
_NOT_CONTROL = bytes(b for b in range(256) if b not in _CONTROL_BYTES)

# A record whose quotes are all closed: fields separated by ";", each one quoted ("…", with
# "" for a quote, then whatever follows up to the next ";", as Python's csv module reads
# it), unquoted (no quote at its start: its quotes are plain characters) or empty. A line
# with quotes that does not match ends inside a quoted field: the next line continues it.
_FIELD = rb'(?:"(?:[^"]|"")*+"[^;]*|[^";][^;]*|)'
_CLOSED_RECORD = re.compile(_FIELD + rb"(?:;" + _FIELD + rb")*+")


def open_records(fileobj):
    """Check the start of a binary file, then return an iterator over its records.

    Raises ImportRefused for an empty, UTF-16 or binary file (NUL bytes in the header line,
    or many control bytes in the first chunk, as in an image or a spreadsheet workbook).
    A NUL byte further down only makes its record rejected.
    """
    first = fileobj.read(READ_CHUNK)
    if isinstance(first, str):
        raise TypeError("import_extract attend un fichier ouvert en mode binaire.")
    if not first or not first.strip():
        raise ImportRefused("Le fichier est vide.")
    if first.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportRefused(
            "Le fichier est encodé en UTF-16 : enregistrez-le en CSV UTF-8 ou Windows-1252."
        )
    newline = b"\n" if b"\n" in first or b"\r" not in first else b"\r"
    header = first.split(newline, 1)[0]
    controls = len(first.translate(None, _NOT_CONTROL))
    if b"\x00" in header or controls > BINARY_SHARE * len(first):
        raise ImportRefused(_BINARY)
    if first.startswith(b"\xef\xbb\xbf"):
        first = first[3:]
    return _records(_lines(fileobj, first, newline), newline)


def _lines(fileobj, buffer, newline):
    """The file's lines as bytes, without their end; None for a line too long to be CSV."""
    skipping = False  # inside a line longer than MAX_LINE_BYTES
    while True:
        *complete, buffer = buffer.split(newline)
        for raw in complete:
            if skipping:
                skipping = False
                yield None
            else:
                yield raw
        if len(buffer) > MAX_LINE_BYTES:
            skipping = True
            buffer = b""
        chunk = fileobj.read(READ_CHUNK)
        if not chunk:
            break
        buffer += chunk
    if skipping:
        yield None
    elif buffer:
        yield buffer


def _records(lines, newline):
    """(number, text, problem) of each record: a line, or the lines of a quoted field that
    holds line breaks. A quote still open after MAX_RECORD_LINES lines (or at the end of
    the file) rejects its first line alone; the following lines are read again as records."""
    lines = iter(lines)
    number = 0
    for raw in lines:
        if raw is not None and b'"' not in raw:  # the usual line
            number += 1
            yield (number, *_decode(raw))
            continue
        pending = [raw]  # lines to read as records, the next one last
        while pending:
            raw = pending.pop()
            number += 1
            if raw is None:
                yield number, "", TOO_LONG
                continue
            if b'"' in raw and not _CLOSED_RECORD.fullmatch(raw):
                record, extra = _continue_record(raw, lines, newline)
                if record is None:
                    yield number, _decode(raw)[0], UNCLOSED_QUOTE
                    pending.extend(reversed(extra))
                    continue
                raw = record
            yield (number, *_decode(raw))


_END = object()


def _continue_record(raw, lines, newline):
    """(the whole record, []) once a later line closes the quote of ``raw``, else
    (None, [the lines read ahead])."""
    parts = [raw]
    size = len(raw)
    while len(parts) < MAX_RECORD_LINES and size <= MAX_LINE_BYTES:
        line = next(lines, _END)
        if line is _END:
            break
        parts.append(line)
        if line is None:
            break
        size += len(line) + 1
        if b'"' in line:
            record = newline.join(parts)
            if _CLOSED_RECORD.fullmatch(record):
                return record, []
    return None, parts[1:]


def _decode(raw):
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if b"\x00" in raw:
        return raw.replace(b"\x00", b"").decode("cp1252", "replace"), NUL_BYTES
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), None
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace"), UNDECODABLE
