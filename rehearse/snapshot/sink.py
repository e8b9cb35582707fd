"""The row path of a pull: COPY text in, anonymized COPY text out, compressed, batch by batch.

psycopg2 hands a COPY one row at a time; a ``Sink`` only appends rows to a batch. A batch is
worked column by column, not row by row: the whole batch is split into fields in one C call, each
anonymized column is cut out of it with an extended slice and transformed as a list (a whole-value
rule such as a fake or a hash hashes the column in one call; partial rules such as mask or scrub go
value by value), and the rows are joined back in C (``zip`` + ``str.join``). Only the values of
anonymized columns ever reach Python code.

Three paths, cheapest first: a table with nothing to transform or scan goes straight into zstd
(``raw``: psycopg2 calls the compressor's C ``write`` itself); a table with only kept text columns
to leak-scan is compressed as is, its batches split into fields only to collect the scanned
columns' distinct values; only tables with anonymized columns are re-encoded.

COPY text escapes are rare: a batch whose only backslashes are NULL markers (``\\N``) skips
decoding and encoding altogether (one count over the batch decides).
"""

from __future__ import annotations

import bisect
import collections
import itertools
from typing import TYPE_CHECKING, Any, Callable

import zstandard

from ..anonymize.leak import MIN_LENGTH as LEAK_MIN_LENGTH, LeakRecorder
from ..anonymize.compile import Anonymizer, json_top_keys
from ..anonymize.fakes import SCRUB_PATTERNS
from ..anonymize.keyed import _fast
from ..anonymize.names import find_name_pairs
from ..copytext import copy_decode, copy_encode, parse_array
from ..errors import SnapshotError
from ..catalog import quote_ident

if TYPE_CHECKING:
    from .plan import ColumnPlan, TablePlan

ZSTD_LEVEL = 1  # the fastest level: the snapshot is read once, by a restore that does not care
BATCH_ROWS = 4096
NULL = "\\N"
_TEXTLIKE = ("S", "U", "I", "X")  # categories whose values could carry a copied personal value
# strategies whose output keeps part of the input: what they write is leak-scanned; whole fakes,
# hashes and constants are made by rehearse and cannot carry a source value
PARTIAL = frozenset({"scrub", "json", "mask", "shift_date"})
# a json rule on top-level keys of a jsonb column splits each document into the rest and each key's
# value, so Python parses only the anonymized values: in C when the extension is built
# (_fast.json_split, reading jsonb's own text), else by PostgreSQL in the COPY query
JSON_SPLIT = True
SPLIT_IN_C = True  # with the extension: split here (less work for the server), else in the COPY query
MEMO_SIZE = 16_384  # values a column remembers (cleared when full: flat memory)
MEMO_TRIAL_ROWS = 8_192  # after this many rows a memo that rarely hits is dropped (it only costs)
_COPY_SPECIAL = ("\\", "\t", "\n", "\r")

Column = list[str]  # one column of a batch: COPY field texts, NULL as \N
ColumnConverter = Callable[[Column, bool], Column]  # (fields, batch has escapes) -> fields


class Sink:
    """Where one COPY's output goes: transformed, leak-recorded and compressed, batch by batch."""

    def __init__(self, out, table_plan: TablePlan, anonymizer: Anonymizer | None,
                 recorder: LeakRecorder | None, report: Callable[[int], None]) -> None:
        self.writer = zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(out, closefd=False)
        self.buf: list = []
        self.rows = 0
        self.report = report
        self.recorder = recorder
        self.ops: list[tuple[int, ColumnConverter]] = []
        # (index, first extra field, key count, converter): split jsonb documents (see json_split_keys)
        self.splits: list[tuple[int, int, int, Callable[[Column, list[Column], bool], Column]]] = []
        self.scan: list[tuple[int, int]] = []  # (index, column id) of kept text-like columns
        # (index, column id, length limit) of kept text-like columns the value dictionary cleans
        self.clean: list[tuple[int, int, int | None]] = []
        dictionary = self.dictionary = getattr(anonymizer, "dictionary", None)
        # kept text columns: how many "First Last" pairs of the name dictionaries they still hold
        self.name_pairs: dict[int, int] = {}
        self.ncols = len(table_plan.columns)
        self.select = [quote_ident(c.name) for c in table_plan.columns]  # the COPY query's output
        for i, c in enumerate(table_plan.columns):
            keys = json_split_keys(c, anonymizer)
            if keys is not None and _fast is not None and SPLIT_IN_C:  # split here, in C (_fast.json_split)
                self.splits.append((i, None, len(keys), split_converter(anonymizer, c, recorder, keys)))
            elif keys is not None:
                col = quote_ident(c.name)
                arr = "ARRAY[" + ", ".join(sql_literal(k) for k in keys) + "]::text[]"
                # jsonb - text[] would drop string elements of an array document, and fails on a scalar
                self.select[i] = f"CASE WHEN jsonb_typeof({col}) = 'object' THEN {col} - {arr} ELSE {col} END"
                self.splits.append((i, len(self.select), len(keys), split_converter(anonymizer, c, recorder)))
                self.select.extend(f"{col} -> {sql_literal(k)}" for k in keys)
            elif c.rule is not None and anonymizer is not None:
                self.ops.append((i, column_converter(anonymizer, c, recorder)))
            elif c.type.category in _TEXTLIKE or c.type.is_json or c.type.is_array:
                if dictionary is not None:  # kept text may hold a copy of a personal value
                    self.clean.append((i, c.column_id, c.type.max_length))
                elif recorder is not None:
                    self.scan.append((i, c.column_id))
        self.nfields = len(self.select)
        self.transform = bool(self.ops or self.splits or self.clean)
        self.raw = not (self.transform or self.scan)  # nothing to look at: psycopg2 may write into zstd directly

    def write(self, data: bytes) -> None:
        # psycopg2 calls this once per row: keep it to an append, work on whole batches
        buf = self.buf
        buf.append(data)
        if len(buf) >= BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self.buf:
            chunk = b"".join(self.buf)
            self.buf.clear()
            self._process(chunk)

    def _process(self, chunk: bytes) -> None:
        """Transform, leak-record and compress a run of whole COPY lines."""
        nf = self.nfields
        if self.transform:
            # one list of fields per column, and whether any backslash is not a NULL marker: in one
            # C pass over ASCII text, else decoded, counted and split
            split = _fast.split_rows(chunk, nf) if _fast is not None else None
            if split is not None:
                columns, escaped = split
            else:
                columns = None
                escaped = chunk.count(b"\\") != chunk.count(b"\\N")
                fields = chunk.decode("utf-8", "surrogateescape").replace("\n", "\t").split("\t")
        elif self.scan:
            columns = None
            fields = chunk.replace(b"\n", b"\t").split(b"\t")  # COPY text never holds a raw tab or newline
        else:
            self.rows += chunk.count(b"\n")
            self._write(chunk)
            return
        if columns is None:
            fields.pop()  # the chunk ends with a newline
            rows, odd = divmod(len(fields), nf)
            if odd:
                raise SnapshotError(f"COPY returned a line without {nf} fields",
                                    hint="this is a bug in rehearse: please report it with the table's definition")
            columns = [fields[i::nf] for i in range(nf)]
        else:
            rows = len(columns[0])
        self.rows += rows
        if self.scan:
            # kept columns are recorded as they were read (the transform never changes them),
            # once per distinct value in the batch: a status column costs four hashes, not thousands
            written = self.recorder.written
            for i, cid in self.scan:
                self._count_names(columns[i], cid)
                for f in set(columns[i]):
                    if len(f) >= LEAK_MIN_LENGTH:  # NULL markers are shorter
                        if type(f) is bytes:
                            f = f.decode("utf-8", "surrogateescape")
                        written(copy_decode(f), cid)
        if self.transform:
            cols = columns[:self.ncols]
            for i, conv in self.ops:
                cols[i] = conv(cols[i], escaped)
            for i, j, n, conv in self.splits:
                cols[i] = conv(cols[i], None if j is None else columns[j:j + n], escaped)
            for i, cid, limit in self.clean:
                cols[i] = self._cleaned(cols[i], cid, limit)
            joined = _fast.join_rows(cols) if _fast is not None else None  # None: not all ASCII
            if joined is None:
                joined = ("\n".join(map("\t".join, zip(*cols))) + "\n").encode("utf-8", "surrogateescape")
            chunk = joined
        self._write(chunk)

    def _cleaned(self, fields: Column, cid: int, limit: int | None) -> Column:
        """A kept column with every original personal value replaced, recorded for the leak scan after."""
        out, changed = self.dictionary.clean_many(fields)
        if changed and limit:
            out = [o if o is f or len(o) <= limit else _cut(o, limit) for o, f in zip(out, fields)]
        self._count_names(out, cid)
        if self.recorder is not None:
            written = self.recorder.written
            for f in set(out):
                if len(f) >= LEAK_MIN_LENGTH:
                    written(copy_decode(f), cid)
        return out

    def _count_names(self, fields: Column, cid: int) -> None:
        n = count_name_pairs(fields)
        if n:
            self.name_pairs[cid] = self.name_pairs.get(cid, 0) + n

    def _write(self, chunk: bytes) -> None:
        self.writer.write(chunk)
        if self.recorder is not None:
            self.recorder.maybe_flush()
        self.report(self.rows)

    def close(self) -> None:
        self._flush()
        self.writer.flush(zstandard.FLUSH_FRAME)
        self.writer.close()


def count_name_pairs(fields: Column) -> int:
    """How many "First Last" pairs of the name dictionaries a column of a batch holds, counting a
    text as often as it is there, with one regex pass over its distinct texts."""
    distinct = list(dict.fromkeys(fields))
    if fields and type(fields[0]) is bytes:
        text = b"\n".join(distinct).decode("utf-8", "surrogateescape")
    else:
        text = "\n".join(distinct)
    spans = find_name_pairs(text)
    if not spans or len(distinct) == len(fields):
        return len(spans)
    # where each distinct text starts in ``text`` (characters, also when the fields are bytes)
    starts = list(itertools.accumulate((len(t) + 1 for t in text.split("\n")[:-1]), initial=0))
    times = collections.Counter(fields)
    return sum(times[distinct[bisect.bisect_right(starts, a) - 1]] for a, _ in spans)


# --- column converters -----------------------------------------------------------------------


def _cut(field: str, limit: int) -> str:
    """A COPY field cut to ``limit`` characters of its value (varchar(n) must still fit)."""
    value = copy_decode(field) if "\\" in field else field
    return copy_encode(value[:limit])


def _memo_trial(fn: Callable[[str], Any]) -> Callable[[int], Callable[[str], Any]]:
    """A bounded memo in front of ``fn``, kept only while it pays: returns ``current(rows_done)``,
    the function to use for the next batch (the memo, or ``fn`` once a trial showed it rarely hits)."""
    memo: dict[str, Any] = {}
    get = memo.get
    misses = 0

    def remembered(v: str) -> Any:
        nonlocal misses
        out = get(v)
        if out is None:
            out = fn(v)
            misses += 1
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            memo[v] = out
        return out

    chosen: list = [remembered]

    def current(rows: int) -> Callable[[str], Any]:
        if chosen[0] is remembered and rows >= MEMO_TRIAL_ROWS and misses > 0.8 * rows:
            chosen[0] = fn
            memo.clear()
        return chosen[0]

    return current


def _encoded(values: list[str | None]) -> Column:
    """Decoded values (None = NULL) as COPY fields; the escaping runs only when some value needs it."""
    nulls = None in values
    blob = "".join([v for v in values if v is not None] if nulls else values)
    if any(ch in blob for ch in _COPY_SPECIAL):  # a decoded value with a backslash, tab or newline
        return [NULL if v is None else copy_encode(v) for v in values]
    return [NULL if v is None else v for v in values] if nulls else values


def column_converter(anonymizer: Anonymizer, col: ColumnPlan, rec: LeakRecorder | None) -> ColumnConverter:
    """One anonymized column of a batch -> its output fields, recording originals for the leak scan."""
    rule = col.rule
    whole_value = rule.strategy not in PARTIAL and not col.type.is_array
    if not whole_value:
        return _per_field(_field_converter(anonymizer, col, rec), col)
    many = anonymizer.compile_many(rule, col.type)  # values -> replacements (None: NULL)
    keep = rec.originals_list(col.column_id).extend if rec is not None and rule.leak_checked else None
    null_out = rule.strategy == "null"
    safe = rule.copy_safe and not null_out

    def conv(fields: Column, escaped: bool) -> Column:
        if escaped:
            values = [None if f == NULL else copy_decode(f) for f in fields]
            present = [v for v in values if v is not None]
        else:  # no escapes in this batch: a field's text is its value
            present = [f for f in fields if f != NULL] if NULL in fields else fields
        if keep is not None:
            keep(long_enough(present))
        if null_out:
            return [NULL] * len(fields)
        made = many(present)
        if escaped:
            it = iter(made)
            return _encoded([None if v is None else next(it) for v in values])
        if len(made) != len(fields):
            it = iter(made)
            made = [NULL if f == NULL else next(it) for f in fields]
        return made if safe else _encoded([None if f == NULL else o for f, o in zip(fields, made)])

    return conv


def _per_field(field: Callable[[str], str], col: ColumnPlan) -> ColumnConverter:
    """A field -> field converter applied to every non-NULL field (arrays, partial strategies)."""
    current = (lambda rows: field) if col.type.unique else _memo_trial(field)
    rows = 0

    def conv(fields: Column, escaped: bool) -> Column:
        nonlocal rows
        f = current(rows)
        rows += len(fields)
        return [v if v == NULL else f(v) for v in fields]

    return conv


def _field_converter(anonymizer: Anonymizer, col: ColumnPlan, rec: LeakRecorder | None) -> Callable[[str], str]:
    """COPY field text -> COPY field text for one column of a partial strategy or an array column:
    decode, transform, record what the leak scan needs, encode."""
    rule = col.rule
    cid = col.column_id
    if rec is None or (not rule.leak_checked and rule.strategy not in PARTIAL):  # nothing to record
        fn = anonymizer.compile(rule, col.type)

        def conv_plain(f: str) -> str:
            out = fn(copy_decode(f) if "\\" in f else f)
            return NULL if out is None else copy_encode(out)
        return conv_plain
    original, written = rec.original, rec.written
    partial = rule.strategy in PARTIAL
    if rule.strategy == "json":
        # the transform records originals leaf by leaf, and reports the part of each document
        # that may still hold source values (the made-up values cannot): only that is scanned
        keep = rec.originals_list(cid).append
        fn = anonymizer.compile(rule, col.type, on_original=lambda v: len(v) >= LEAK_MIN_LENGTH and keep(v),
                                on_kept=lambda text: written(text, cid))

        def conv_json(f: str) -> str:
            out = fn(copy_decode(f) if "\\" in f else f)
            return NULL if out is None else copy_encode(out)
        return conv_json
    fn = anonymizer.compile(rule, col.type, on_original=lambda v: original(v, cid))
    originals: Callable[[str], None] | None
    if not rule.leak_checked:
        originals = None
    elif rule.strategy == "scrub":
        def originals(value: str) -> None:
            for _, pattern in SCRUB_PATTERNS:
                for m in pattern.findall(value):
                    original(m, cid)
    elif col.type.is_array:
        def originals(value: str) -> None:
            for item in _flat(parse_array(value)):
                original(item, cid)
    else:
        def originals(value: str) -> None:
            original(value, cid)

    def conv(f: str) -> str:
        value = copy_decode(f) if "\\" in f else f
        out = fn(value)
        if out is None:
            if originals is not None:
                originals(value)
            return NULL
        if out != value:
            if originals is not None:
                originals(value)
            if partial:
                written(out, cid)
        return copy_encode(out)

    return conv


def _flat(items):
    for item in items:
        if isinstance(item, list):
            yield from _flat(item)
        elif item is not None:
            yield item


# --- jsonb documents split by the server -----------------------------------------------------


def json_split_keys(col: ColumnPlan, anonymizer: Anonymizer | None) -> tuple[str, ...] | None:
    """The top-level keys PostgreSQL should split out of this column's documents, or None."""
    if not JSON_SPLIT or anonymizer is None or col.rule is None or col.rule.strategy != "json":
        return None
    if col.type.name != "jsonb" or col.type.is_array:  # json keeps its text as written: walk it
        return None
    return json_top_keys(col.rule)


def long_enough(values: list[str]) -> list[str]:
    """The values the leak scan records (MIN_LENGTH or more): the list itself when all are (one C-level pass)."""
    if not values or (_fast.shortest(values) if _fast is not None and type(values) is list
                      else min(map(len, values))) >= LEAK_MIN_LENGTH:
        return values
    return [v for v in values if len(v) >= LEAK_MIN_LENGTH]


def _nulled(fields: Column) -> list[str | None]:
    """COPY fields with NULL markers as None (the same list when it holds none: one C-level test)."""
    return [None if f == NULL else f for f in fields] if NULL in fields else fields


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def split_converter(anonymizer: Anonymizer, col: ColumnPlan, rec: LeakRecorder | None,
                    keys: tuple[str, ...] | None = None) -> Callable[[Column, list[Column] | None, bool], Column]:
    """(rest fields, one field column per key) of a batch -> the documents' COPY fields, recording
    originals and the kept part of each document like the walking json transform does.

    With ``keys``, the fields are the whole documents and are split here (_fast.json_split, the
    text PostgreSQL's ``-`` and ``->`` would give); a document it leaves whole (a backslash in
    it) goes through the walking transform alone."""
    if rec is None:
        fn = anonymizer.compile_json_split(col.rule)
    else:
        cid = col.column_id
        keep, written = rec.originals_list(cid).append, rec.written
        extend = rec.originals_list(cid).extend
        fn = anonymizer.compile_json_split(col.rule, on_original=lambda v: len(v) >= LEAK_MIN_LENGTH and keep(v),
                                           on_kept=lambda text: written(text, cid),
                                           on_originals=lambda vs: extend(long_enough(vs)))

    if keys is not None:
        walk = _field_converter(anonymizer, col, rec)  # COPY field -> COPY field, the whole document

        def split_here(docs: Column, _values: None, escaped: bool) -> Column:
            rests, values, unsplit = _fast.json_split(docs, keys)
            out = _encoded(fn(rests, values))
            for i in unsplit:
                out[i] = walk(docs[i])
            return out

        return split_here

    def conv(rests: Column, values: list[Column], escaped: bool) -> Column:
        if escaped:
            docs = fn([None if f == NULL else copy_decode(f) for f in rests],
                      [[None if v == NULL else copy_decode(v) for v in c] for c in values])
        else:  # a field's text is its value; NULL markers (absent keys) become None
            docs = fn(_nulled(rests), [_nulled(c) for c in values])
        return _encoded(docs)

    return conv
