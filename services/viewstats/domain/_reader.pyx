# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The aggregator's batch reader compiled with C types: :func:`ingest` decides exactly as the pure-Python
``viewstats.domain.partition.ingest_python`` (the reference, and the fallback when this module is not built;
``tests/unit/viewstats/test_ingest.py`` compares both record by record).

What C types buy over the same loop interpreted: the row and header tuples are read in place (no iterator, no
unpacking), the two header names and the ``ce_type`` bytes are compared with ``memcmp``, an event id's bytes are
checked for ASCII in C, the canonical time's tail is checked by its characters (no slice, no set lookup) and the
second it names is compared with the previous record's in C (most records of a batch share their second), the
sketches of the previous record's minute are kept in C variables, and the counts are plain C integers. What stays
a Python call: msgspec's decode, the three sketch updates, the dict operations (the de-dup window, the sketch and
key tables) and, once per distinct second of a batch, the time parser.

It reads rows ``(offset, headers, value, record)`` as the clients make them, or whole Kafka record batches
(:class:`RecordBatch`, from :func:`split_batches` of a fetched message set), whose records it reads in place from
the decompressed bytes: a record then costs no object but its event id's bytes and what counting it needs.

Built by ``deploy/local/build_reader.py`` (``make python``, the image's build stage)."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython cimport array
from cpython.list cimport PyList_Append, PyList_GET_ITEM
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_CheckExact, PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.unicode cimport (
    PyUnicode_1BYTE_DATA,
    PyUnicode_1BYTE_KIND,
    PyUnicode_CheckExact,
    PyUnicode_DecodeUTF8,
    PyUnicode_GET_LENGTH,
    PyUnicode_DecodeASCII,
    PyUnicode_DecodeLatin1,
    PyUnicode_KIND,
)
from cpython.object cimport PyObject_Hash
from libc.stdint cimport uint64_t
from libc.string cimport memcmp, memcpy

from types import SimpleNamespace

from aiokafka.codec import gzip_decode, snappy_decode, zstd_decode
from aiokafka.record.util import calc_crc32c
from cramjam import lz4

from common.contracts.viewstats import ViewRecorded
from viewstats.domain.beacon import parse_time_ms
from viewstats.domain.counters import local_minute, minute_label
from viewstats.wire import VIEW_BODY, not_a_view

cdef bytes VIEW_TYPE = ViewRecorded.TYPE.encode()
cdef str NO_PROVINCE = "none"
cdef array.array QUEUE = array.array("q")  # the type of the queue's arrays (``PendingViews``)


cdef inline bint _is_name(object name, const char *expected, Py_ssize_t size):
    """``name == expected`` for a header name: in C for an exact ``str`` (what both clients give), else Python's."""
    if PyUnicode_CheckExact(name):
        return (
            PyUnicode_KIND(name) == PyUnicode_1BYTE_KIND
            and PyUnicode_GET_LENGTH(name) == size
            and memcmp(PyUnicode_1BYTE_DATA(name), expected, size) == 0
        )
    return name == expected.decode("ascii")


cdef inline bint _is_view_type(object raw_type):
    """``raw_type == VIEW_TYPE`` (in C for exact ``bytes``)."""
    if PyBytes_CheckExact(raw_type):
        return (
            PyBytes_GET_SIZE(raw_type) == PyBytes_GET_SIZE(VIEW_TYPE)
            and memcmp(PyBytes_AS_STRING(raw_type), PyBytes_AS_STRING(VIEW_TYPE), PyBytes_GET_SIZE(VIEW_TYPE)) == 0
        )
    return raw_type == VIEW_TYPE


cdef inline void _check_utf8(object event_id) except *:
    """``event_id.decode()`` unless it is ASCII (an ASCII id, every UUID, is valid UTF-8): raises for a non-UTF-8
    id, and for a header value that is not bytes as the Python reader does."""
    cdef const unsigned char *p
    cdef Py_ssize_t i, n
    if PyBytes_CheckExact(event_id):
        p = <const unsigned char *>PyBytes_AS_STRING(event_id)
        n = PyBytes_GET_SIZE(event_id)
        for i in range(n):
            if p[i] >= 128:
                PyUnicode_DecodeUTF8(<const char *>p, n, NULL)
                return
        return
    if not event_id.isascii():
        event_id.decode()


# --- the collector's body, read in C ---------------------------------------------------------------------------
# The collector writes every body the same way (orjson of ``View.data()``: these keys in this order, no spaces).
# A body of exactly that form whose strings are printable ASCII without escapes is read here: its fields are the
# ones msgspec would give (a JSON string of such bytes is those characters; ``client`` is not read). Anything else
# (other order, spaces, escapes, non-ASCII, other types, broken JSON) goes to msgspec, which decides as before.
cdef struct Body:
    Py_ssize_t at[7]  # start of each string value (resource_id, section, visitor_id, province, country, client,
    Py_ssize_t size[7]  # viewed_at) and its length; province's size is -1 for null


cdef const char *PREFIXES[7]
PREFIXES[:] = [
    b'{"resource_id":"', b',"section":"', b',"visitor_id":"', b',"province":', b',"country":"', b',"client":"',
    b',"viewed_at":"',
]
cdef Py_ssize_t PREFIX_SIZES[7]
PREFIX_SIZES[:] = [16, 12, 15, 12, 12, 11, 14]
DEF PROVINCE = 3


cdef inline Py_ssize_t _string_end(const unsigned char *p, Py_ssize_t i, Py_ssize_t end) noexcept nogil:
    """Index of the closing quote of a string of printable ASCII without escapes starting at ``i``; -1 if not."""
    cdef unsigned char c
    while i < end:
        c = p[i]
        if c == 34:  # '"'
            return i
        if c < 32 or c >= 127 or c == 92:  # a control character, non-ASCII or a backslash: msgspec decides
            return -1
        i += 1
    return -1


cdef inline bint _read_body(const unsigned char *p, Py_ssize_t end, Body *body) noexcept nogil:
    cdef Py_ssize_t i = 0, f, close
    for f in range(7):
        if end - i < PREFIX_SIZES[f] or memcmp(p + i, PREFIXES[f], PREFIX_SIZES[f]) != 0:
            return False
        i += PREFIX_SIZES[f]
        if f == PROVINCE:
            if end - i >= 4 and memcmp(p + i, b"null", 4) == 0:
                body.at[f], body.size[f] = i, -1
                i += 4
                continue
            if i >= end or p[i] != 34:
                return False
            i += 1
        close = _string_end(p, i, end)
        if close < 0:
            return False
        body.at[f], body.size[f] = i, close - i
        i = close + 1
    return i + 1 == end and p[i] == 125  # '}' and nothing after it


# Strings that recur (resource ids, sections, provinces, countries) are made once: the same object each time, its
# hash computed once, so the sketch maps and the key table find it by identity. Open addressing over the bytes'
# FNV-1a hash; a full neighbourhood just makes a new string (the table holds at most SLOTS strings, ≤ 64 bytes each).
DEF SLOTS = 1 << 16
DEF PROBES = 8
cdef PyObject *_interned[SLOTS]


cdef inline object _ascii(const unsigned char *p, Py_ssize_t n):
    return PyUnicode_DecodeASCII(<const char *>p, n, NULL)


cdef object _intern(const unsigned char *p, Py_ssize_t n):
    cdef uint64_t h = 14695981039346656037ULL
    cdef Py_ssize_t i, slot
    cdef PyObject *held
    cdef object s
    if n > 64:
        return _ascii(p, n)
    for i in range(n):
        h = (h ^ p[i]) * 1099511628211ULL
    for i in range(PROBES):
        slot = <Py_ssize_t>((h + <uint64_t>i) & (SLOTS - 1))
        held = _interned[slot]
        if held is NULL:
            s = _ascii(p, n)
            PyObject_Hash(s)  # cached in the string from now on
            Py_INCREF(s)
            _interned[slot] = <PyObject *>s
            return s
        if PyUnicode_GET_LENGTH(<object>held) == n and memcmp(PyUnicode_1BYTE_DATA(<object>held), p, n) == 0:
            return <object>held
    return _ascii(p, n)


cdef inline int _add(dict held, object value, object new, object visitor) except -1:
    """Add the visitor to the sketch of ``value`` in ``held`` (made by ``new(value)`` on its first view)."""
    cdef PyObject *found = PyDict_GetItem(held, value)
    sketch = new(value) if found is NULL else <object>found
    sketch.update(visitor)
    return 0


# --- Kafka's record batches, read in place ---------------------------------------------------------------------
# A fetched message set is a run of record batches (message format v2, Kafka's ``DefaultRecordBatch``): a 61-byte
# header, then the records, compressed as a whole by the batch's codec. aiokafka decodes every record into objects
# (seven header tuples, their names and values, the key, the value: ≈ 25 objects a record, then freed); the
# aggregator's consumer instead hands :func:`ingest` the batches (``aggregator.clients``), whose records are read
# here from the decompressed bytes. Layout: https://kafka.apache.org/documentation/#recordbatch
DEF HEADER = 61  # base offset 8, length 4, leader epoch 4, magic 1, crc 4, attributes 2, last offset delta 4,
#                  first timestamp 8, max timestamp 8, producer id 8, producer epoch 2, base sequence 4, count 4
DEF CRC_FROM = 21  # the CRC-32C covers the batch from its attributes to its end
DEF CONTROL = 0x20
DEF LOG_APPEND_TIME = 0x08


cdef inline unsigned long long _be(const unsigned char *p, int size) noexcept nogil:
    cdef unsigned long long v = 0
    cdef int i
    for i in range(size):
        v = (v << 8) | p[i]
    return v


cdef inline bint _varint(const unsigned char *p, Py_ssize_t *at, Py_ssize_t end, long long *out) noexcept nogil:
    """Read one zig-zag varint (Kafka's varint and varlong) at ``at[0]``, not past ``end``; False if it does not
    fit there."""
    cdef unsigned long long v = 0
    cdef int shift = 0
    cdef unsigned char b
    cdef Py_ssize_t i = at[0]
    while True:
        if i >= end or shift > 63:
            return False
        b = p[i]
        i += 1
        v |= (<unsigned long long>(b & 0x7F)) << shift
        if b < 0x80:
            break
        shift += 7
    at[0] = i
    out[0] = <long long>(v >> 1) ^ -(<long long>(v & 1))
    return True


cdef class RecordBatch:
    """One record batch of a fetched message set, its records not read yet (made by :func:`split_batches`)."""
    cdef readonly bytes raw  # the fetched message set; this batch is ``raw[start:end]``
    cdef readonly Py_ssize_t start, end
    cdef readonly long long base_offset, next_offset, first_timestamp, max_timestamp
    cdef readonly int attributes, count
    cdef public long long skip_below  # records below it were read before (the fetch started inside this batch)
    cdef object data  # the records' bytes while :func:`ingest` reads them
    cdef Py_ssize_t current  # where the record being read starts in ``data``

    @property
    def is_control(self) -> bool:
        return self.attributes & CONTROL != 0

    cdef object records(self):
        """The records' bytes, decompressed by the batch's codec (aiokafka's codecs; lz4 straight from cramjam,
        without aiokafka's copy of its buffer)."""
        cdef int codec = self.attributes & 7
        payload = memoryview(self.raw)[self.start + HEADER : self.end]
        if codec == 0:
            return payload
        if codec == 3:
            return lz4.decompress(payload)
        if codec == 1:
            return gzip_decode(payload)
        if codec == 2:
            return snappy_decode(payload.tobytes())
        if codec == 4:
            return zstd_decode(payload.tobytes())
        raise ValueError(f"record batch {self.base_offset}: unknown compression codec {codec}")

    def rows(self) -> list:
        """The batch's records (those from ``skip_below`` on) as rows ``(offset, headers, value, record)``: for
        the rare paths that take rows (``partition.park_records``) and for tests."""
        cdef const unsigned char[::1] view
        cdef Py_ssize_t at = 0, start, end
        cdef long long length
        cdef int k
        self.data = self.records()
        view = self.data
        end = view.shape[0]
        out = []
        for k in range(self.count):
            start = at
            if not _varint(&view[0], &at, end, &length) or length < 0 or length > end - at:
                raise ValueError(f"a record of batch {self.base_offset} is cut short")
            at += length
            record = self.record_at(start)
            if record.offset >= self.skip_below:
                out.append((record.offset, record.headers, record.value, record))
        self.data = None
        return out

    cdef object record_at(self, Py_ssize_t at):
        """The record starting at ``at`` as a dead letter carries it (offset, timestamp, key, value, headers), made
        only for a malformed record. A header name that is not UTF-8 is decoded with replacement characters."""
        cdef const unsigned char[::1] view = self.data
        cdef const unsigned char *p = &view[0]
        cdef Py_ssize_t end = view.shape[0]
        cdef long long length, delta, offset_delta, size, n_headers, h
        _varint(p, &at, end, &length)
        at += 1
        _varint(p, &at, end, &delta)
        _varint(p, &at, end, &offset_delta)
        key, at = _field(p, at, end)
        value, at = _field(p, at, end)
        _varint(p, &at, end, &n_headers)
        headers = []
        for h in range(n_headers):
            name, at = _field(p, at, end)
            header, at = _field(p, at, end)
            headers.append((name.decode("utf-8", "replace"), header))
        return SimpleNamespace(
            offset=self.base_offset + offset_delta,
            timestamp=self.max_timestamp if self.attributes & LOG_APPEND_TIME else self.first_timestamp + delta,
            key=key,
            value=value,
            headers=headers,
        )


cdef tuple _field(const unsigned char *p, Py_ssize_t at, Py_ssize_t end):
    """A length-prefixed field (None for length -1) and where the next begins."""
    cdef long long size
    _varint(p, &at, end, &size)
    if size < 0:
        return None, at
    return PyBytes_FromStringAndSize(<const char *>p + at, size), at + size


def split_batches(bytes raw, bint check_crcs):
    """The record batches of a fetched message set, in order, with their CRC-32C checked (``check_crcs``); a batch
    cut short at the end (a fetch ends where its size limit falls) is left for the next fetch, as aiokafka does.
    None if a batch is not of message format v2 (aiokafka then reads the set). Raises ValueError for a corrupt
    batch."""
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(raw)
    cdef Py_ssize_t at = 0, n = PyBytes_GET_SIZE(raw), size
    cdef RecordBatch batch
    cdef list batches = []
    while n - at >= 17:  # base offset, length, leader epoch, magic
        size = <Py_ssize_t>(<int>_be(p + at + 8, 4)) + 12
        if size > n - at:
            break
        if p[at + 16] != 2:
            return None
        if size < HEADER:
            raise ValueError(f"a record batch at byte {at} is shorter than its header")
        if check_crcs and calc_crc32c(memoryview(raw)[at + CRC_FROM : at + size]) != _be(p + at + 17, 4):
            raise ValueError(f"record batch {<long long>_be(p + at, 8)}: invalid CRC")
        batch = RecordBatch.__new__(RecordBatch)
        batch.raw, batch.start, batch.end = raw, at, at + size
        batch.base_offset = <long long>_be(p + at, 8)
        batch.attributes = <int>_be(p + at + 21, 2)
        batch.next_offset = batch.base_offset + <int>_be(p + at + 23, 4) + 1
        batch.first_timestamp = <long long>_be(p + at + 27, 8)
        batch.max_timestamp = <long long>_be(p + at + 35, 8)
        batch.count = <int>_be(p + at + 57, 4)
        if batch.count < 0:
            raise ValueError(f"record batch {batch.base_offset}: a negative record count")
        batch.skip_below = batch.base_offset
        batches.append(batch)
        at += size
    return batches


# --- one partition's records ---------------------------------------------------------------------------------
cdef class _Reader:
    """What one call of :func:`ingest` carries from record to record: the state's maps, the batch's caches (the
    previous record's second and minute, the sketches of its minute) and the queue being built, in C arrays."""
    cdef dict last_of, number_of, days, seconds
    cdef list keys, malformed_list
    cdef object uniques, decode, add_all, new_resource, new_province
    cdef dict by_resource, by_province
    cdef long long warm_until, window, current_minute, minute_of_second, duplicates, malformed, last_offset
    cdef bint have_second
    cdef unsigned char previous_second[19]
    cdef Py_ssize_t queued, capacity
    cdef array.array offsets, numbers

    def __cinit__(self, state, Py_ssize_t capacity):
        dedup = state.dedup
        self.last_of, self.window, self.warm_until = dedup.last, dedup.window, state.warm_until
        self.number_of, self.keys = state.pending.numbering()
        self.uniques, self.malformed_list, self.decode = state.uniques, state.malformed, VIEW_BODY.decode
        self.days, self.seconds = {}, {}  # minute → its day's sketches; "YYYY-MM-DDTHH:MM:SS" → minute
        self.current_minute, self.last_offset, self.capacity = -1 << 62, -1, capacity
        self.offsets = array.clone(QUEUE, capacity, zero=False)  # the queued views' offsets and key numbers
        self.numbers = array.clone(QUEUE, capacity, zero=False)

    cdef int view(
        self, long long offset, object event_id, object raw_type, bint typed, const unsigned char *value_at,
        Py_ssize_t value_size, object value, object record,
    ) except -1:
        """Decide one record. ``typed``: its ``ce_type`` is a view's (``raw_type`` is then not needed). The body is
        ``value_at[:value_size]`` when ``value_at`` is set (``value``, if given, is the same bytes), else ``value``
        itself (None, or not bytes: malformed). ``record``: what a dead letter carries, or the :class:`RecordBatch`
        the record is read from (its dead letter is then made only if it is malformed: ``RecordBatch.record_at``)."""
        cdef long long minute, last = 0
        cdef Py_ssize_t time_size
        cdef bint has_last
        cdef const unsigned char *time_at
        cdef Body body
        cdef object resource, province, visitor, section, country, key, minute_obj, viewed_at, v, number, day
        cdef str second
        cdef PyObject *found
        self.last_offset = offset
        try:
            if event_id is None or not typed:
                raise ValueError(not_a_view(event_id, raw_type))
            # Inside the try: an id that is not UTF-8 is a malformed beacon (dead-lettered), not a stall.
            _check_utf8(event_id)
            viewed_at = None
            if value_at is not NULL and _read_body(value_at, value_size, &body):
                resource = _intern(value_at + body.at[0], body.size[0])
                section = _intern(value_at + body.at[1], body.size[1])
                visitor = _ascii(value_at + body.at[2], body.size[2])
                province = None if body.size[3] < 0 else _intern(value_at + body.at[3], body.size[3])
                country = _intern(value_at + body.at[4], body.size[4])
                time_at, time_size = value_at + body.at[6], body.size[6]
            else:
                if value_at is not NULL and value is None:
                    value = PyBytes_FromStringAndSize(<const char *>value_at, value_size)
                v = self.decode(value)
                viewed_at = v.viewed_at
                resource, section, visitor, province, country = (
                    v.resource_id, v.section, v.visitor_id, v.province, v.country
                )
                if PyUnicode_KIND(viewed_at) == PyUnicode_1BYTE_KIND:  # its characters are its bytes
                    time_at, time_size = PyUnicode_1BYTE_DATA(viewed_at), PyUnicode_GET_LENGTH(viewed_at)
                else:
                    time_at, time_size = NULL, 0
            if (
                time_size == 24 and time_at[19] == b"." and 48 <= time_at[20] <= 57 and 48 <= time_at[21] <= 57
                and 48 <= time_at[22] <= 57 and time_at[23] == b"Z"
            ):
                # The collector's form (``_CANONICAL_TAILS``): the milliseconds cannot change the minute, so the
                # record's second decides it, parsed once a batch.
                if self.have_second and memcmp(time_at, self.previous_second, 19) == 0:
                    minute = self.minute_of_second
                else:
                    second = _latin1(time_at, 19)
                    found = PyDict_GetItem(self.seconds, second)
                    if found is NULL:
                        if viewed_at is None:
                            viewed_at = _ascii(time_at, time_size)
                        minute_obj = local_minute(parse_time_ms(viewed_at))
                        self.seconds[second] = minute_obj
                    else:
                        minute_obj = <object>found
                    minute = minute_obj
                    memcpy(self.previous_second, time_at, 19)
                    self.have_second, self.minute_of_second = True, minute
            else:
                if viewed_at is None:
                    viewed_at = _ascii(time_at, time_size)
                minute = local_minute(parse_time_ms(viewed_at))
            key = (minute, resource, section, province or NO_PROVINCE, country)
        except Exception as exc:
            return self.malformed_record(offset, record, exc)
        found = PyDict_GetItem(self.last_of, event_id)  # borrowed: read before the item is replaced
        has_last = found is not NULL
        if has_last:
            last = <object>found
        PyDict_SetItem(self.last_of, event_id, offset)
        if minute != self.current_minute:
            day = self.days.get(minute)
            if day is None:
                sk = self.uniques.day(minute_label(minute)[2])
                day = self.days[minute] = (sk.all.update, sk.res, sk.prov, sk.resource, sk.province)
            self.add_all, self.by_resource, self.by_province, self.new_resource, self.new_province = day
            self.current_minute = minute
        # idempotent: warm-up and replays are harmless
        self.add_all(visitor)
        _add(self.by_resource, resource, self.new_resource, visitor)
        if province:
            _add(self.by_province, province, self.new_province, visitor)
        if offset < self.warm_until:
            return 0
        if has_last and last < offset and offset - last <= self.window:
            self.duplicates += 1
            return 0
        found = PyDict_GetItem(self.number_of, key)
        if found is NULL:
            number = len(self.keys)
            PyDict_SetItem(self.number_of, key, number)
            PyList_Append(self.keys, key)
        else:
            number = <object>found
        if self.queued >= self.capacity:  # more records than their batches' headers said: corrupt
            raise ValueError("a record batch holds more records than its header counts")
        self.offsets.data.as_longlongs[self.queued] = offset
        self.numbers.data.as_longlongs[self.queued] = number
        self.queued += 1
        return 0

    cdef int malformed_record(self, long long offset, object record, object exc) except -1:
        """Dead-letter a malformed record (a :class:`RecordBatch`'s is made from its bytes only now), unless it is a
        warm-up record: the previous owner dead-lettered those."""
        if offset >= self.warm_until:
            self.malformed += 1
            if type(record) is RecordBatch:
                record = (<RecordBatch>record).record_at((<RecordBatch>record).current)
            self.malformed_list.append((record, f"malformed view beacon: {type(exc).__name__}: {exc}"))
        return 0

    cdef int row(self, object row) except -1:
        """One row ``(offset, headers, value, record)`` as a client made it."""
        cdef Py_ssize_t j, n_headers
        cdef long long offset
        cdef bint headers_are_tuple
        cdef tuple row_t
        cdef object headers, value, record, item, name, header, event_id = None, raw_type = None, offset_obj
        if PyTuple_CheckExact(row) and PyTuple_GET_SIZE(row) == 4:
            row_t = <tuple>row
            offset = row_t[0]
            headers, value, record = row_t[1], row_t[2], row_t[3]
        else:
            offset_obj, headers, value, record = row
            offset = offset_obj
        try:
            if headers:  # the last of repeated headers wins, as Kafka's lastHeader()
                if PyTuple_CheckExact(headers) or type(headers) is list:
                    headers_are_tuple = PyTuple_CheckExact(headers)
                    n_headers = len(headers)
                    for j in range(n_headers):
                        item = (
                            <object>PyTuple_GET_ITEM(headers, j)
                            if headers_are_tuple
                            else <object>PyList_GET_ITEM(headers, j)
                        )
                        if PyTuple_CheckExact(item) and PyTuple_GET_SIZE(item) == 2:
                            name = <object>PyTuple_GET_ITEM(item, 0)
                            header = <object>PyTuple_GET_ITEM(item, 1)
                        else:
                            name, header = item
                        if _is_name(name, b"ce_id", 5):
                            event_id = header
                        elif _is_name(name, b"ce_type", 7):
                            raw_type = header
                else:
                    for name, header in headers:
                        if name == "ce_id":
                            event_id = header
                        elif name == "ce_type":
                            raw_type = header
        except Exception as exc:  # headers of another shape: malformed, as the Python reader finds them
            self.last_offset = offset
            return self.malformed_record(offset, record, exc)
        if PyBytes_CheckExact(value):
            return self.view(
                offset, event_id, raw_type, _is_view_type(raw_type), <const unsigned char *>PyBytes_AS_STRING(value),
                PyBytes_GET_SIZE(value), value, record,
            )
        return self.view(offset, event_id, raw_type, _is_view_type(raw_type), NULL, 0, value, record)

    cdef int batch(self, RecordBatch batch) except -1:
        """The records of one v2 record batch, read in place from its (decompressed) bytes: no object per record
        but the event id's bytes (the de-dup window's key) and what :meth:`view` makes."""
        cdef object data = batch.records()
        cdef const unsigned char[::1] view = data
        cdef const unsigned char *p = &view[0] if view.shape[0] else NULL
        cdef Py_ssize_t at = 0, end = view.shape[0], record_start, record_end, value_at, value_size, name_size
        cdef Py_ssize_t id_at = -1, id_size = 0, type_at = -1, type_size = 0, k, name_at
        cdef long long length, delta, offset_delta, size, n_headers, h
        cdef long long offset, skip_below = batch.skip_below
        cdef object event_id, raw_type
        cdef bint typed
        batch.data = data  # a malformed record's dead letter is made from it (``record_at``)
        for k in range(batch.count):
            record_start = at
            if not _varint(p, &at, end, &length) or length < 0 or length > end - at:
                raise ValueError(f"a record of batch {batch.base_offset} is cut short")
            record_end = at + length
            at += 1  # the record's attributes (unused)
            if (
                not _varint(p, &at, record_end, &delta)
                or not _varint(p, &at, record_end, &offset_delta)
                or not _varint(p, &at, record_end, &size)
            ):
                raise ValueError(f"a record of batch {batch.base_offset} is cut short")
            if size > 0:
                at += size  # the key (unused: views are counted by their body)
            if not _varint(p, &at, record_end, &size) or at > record_end:
                raise ValueError(f"a record of batch {batch.base_offset} is cut short")
            value_at, value_size = at, size
            if size > 0:
                at += size
            if not _varint(p, &at, record_end, &n_headers) or n_headers < 0 or at > record_end:
                raise ValueError(f"a record of batch {batch.base_offset} has a bad header count")
            id_at = type_at = -1
            for h in range(n_headers):  # the last of repeated headers wins, as Kafka's lastHeader()
                if not _varint(p, &at, record_end, &size) or size < 0 or size > record_end - at:
                    raise ValueError(f"a record of batch {batch.base_offset} has a bad header")
                name_size = size
                name_at = at
                at += size
                if not _varint(p, &at, record_end, &size) or size > record_end - at:
                    raise ValueError(f"a record of batch {batch.base_offset} has a bad header")
                if name_size == 5 and memcmp(p + name_at, b"ce_id", 5) == 0:
                    id_at, id_size = at, size
                elif name_size == 7 and memcmp(p + name_at, b"ce_type", 7) == 0:
                    type_at, type_size = at, size
                if size > 0:
                    at += size
            if at != record_end:
                raise ValueError(f"a record of batch {batch.base_offset} has bytes its fields do not account for")
            offset = batch.base_offset + offset_delta
            if offset < skip_below:  # read before: the fetch started inside this batch
                continue
            event_id = None if id_at < 0 or id_size < 0 else PyBytes_FromStringAndSize(<const char *>p + id_at, id_size)
            typed = (
                type_at >= 0 and type_size == PyBytes_GET_SIZE(VIEW_TYPE)
                and memcmp(p + type_at, PyBytes_AS_STRING(VIEW_TYPE), type_size) == 0
            )
            raw_type = VIEW_TYPE if typed else None  # only a malformed record's dead letter reason names it
            if not typed and type_at >= 0 and type_size >= 0:
                raw_type = PyBytes_FromStringAndSize(<const char *>p + type_at, type_size)
            batch.current = record_start
            if value_size < 0:  # a tombstone: msgspec finds None malformed, as for a row
                self.view(offset, event_id, raw_type, typed, NULL, 0, None, batch)
            else:
                self.view(offset, event_id, raw_type, typed, p + value_at, value_size, None, batch)
        batch.data = None
        if at != end:
            raise ValueError(f"batch {batch.base_offset} holds more than its {batch.count} records")
        # The position goes past the batch's last offset, as aiokafka's does (compaction may have removed records
        # at its end: the next fetch starts after them).
        if batch.next_offset - 1 > self.last_offset:
            self.last_offset = batch.next_offset - 1
        return 0


def ingest(state, list records):
    """Parse, de-duplicate and queue one partition's records, rows ``(offset, headers, value, record)`` or whole
    :class:`RecordBatch` es (see ``partition.ingest_python``, which decides every record as this does); returns how
    many were queued, dropped as retries, and found malformed."""
    cdef Py_ssize_t i, n = len(records), capacity = 0
    cdef object item
    cdef _Reader reader
    if not records:
        return 0, 0, 0
    for i in range(n):
        item = <object>PyList_GET_ITEM(records, i)
        capacity += (<RecordBatch>item).count if type(item) is RecordBatch else 1
    reader = _Reader(state, capacity)
    for i in range(n):
        item = <object>PyList_GET_ITEM(records, i)
        if type(item) is RecordBatch:
            reader.batch(<RecordBatch>item)
        else:
            reader.row(item)
    array.resize(reader.offsets, reader.queued)
    array.resize(reader.numbers, reader.queued)
    if reader.last_offset >= 0:
        state.position = reader.last_offset
        state.dedup.prune(reader.last_offset)
    state.pending.extend(reader.offsets, reader.numbers)
    return reader.queued, reader.duplicates, reader.malformed


cdef inline str _latin1(const unsigned char *p, Py_ssize_t n):
    """The string of these 1-byte characters (ASCII from a body read in C, Latin-1 from msgspec's string)."""
    return PyUnicode_DecodeLatin1(<const char *>p, n, NULL)
