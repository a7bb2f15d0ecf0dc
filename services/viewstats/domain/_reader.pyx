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
key tables) and, once per distinct second of a batch, the time parser. Built by ``deploy/local/build_reader.py``
(``make python``, the image's build stage)."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE
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


def ingest(state, list records):
    """Parse, de-duplicate and queue one partition's records (see ``partition.ingest_python``, which this decides
    exactly as); returns how many were queued, dropped as retries, and found malformed."""
    cdef Py_ssize_t i, n_records = len(records), j, n_headers, time_size
    cdef long long offset, warm_until, window, last = 0, minute, current_minute = -1 << 62
    cdef long long duplicates = 0, malformed = 0, minute_of_second = 0
    cdef bint have_second = False, has_last, headers_are_tuple
    cdef Py_ssize_t queued = 0
    cdef array.array offsets, numbers
    cdef unsigned char previous_second[19]
    cdef const unsigned char *p
    cdef const unsigned char *time_at
    cdef Body body
    cdef object row, headers, value, record, item, name, header, event_id, raw_type, v, number, offset_obj
    cdef object add_all = None, resource, province, visitor, section, country, key, minute_obj
    cdef object new_resource = None, new_province = None, viewed_at
    cdef dict by_resource = None, by_province = None, last_of, number_of, days, seconds
    cdef str second
    cdef list keys, malformed_list
    cdef tuple day, row_t
    cdef PyObject *found
    if not records:
        return 0, 0, 0
    dedup, uniques = state.dedup, state.uniques
    warm_until = state.warm_until
    last_of, window = dedup.last, dedup.window
    number_of, keys = state.pending.numbering()
    offsets = array.clone(QUEUE, n_records, zero=False)  # the queued views' offsets and key numbers, in C
    numbers = array.clone(QUEUE, n_records, zero=False)
    malformed_list = state.malformed
    days = {}  # minute → its day's sketches
    seconds = {}  # "YYYY-MM-DDTHH:MM:SS" → minute
    decode = VIEW_BODY.decode
    for i in range(n_records):
        row = records[i]
        if PyTuple_CheckExact(row) and PyTuple_GET_SIZE(row) == 4:
            row_t = <tuple>row
            offset = row_t[0]
            headers, value, record = row_t[1], row_t[2], row_t[3]
        else:
            offset_obj, headers, value, record = row
            offset = offset_obj
        try:
            event_id = raw_type = None
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
            if event_id is None or not _is_view_type(raw_type):
                raise ValueError(not_a_view(event_id, raw_type))
            # Inside the try: an id that is not UTF-8 is a malformed beacon (dead-lettered), not a stall.
            _check_utf8(event_id)
            viewed_at = None
            if PyBytes_CheckExact(value) and _read_body(
                <const unsigned char *>PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value), &body
            ):
                p = <const unsigned char *>PyBytes_AS_STRING(value)
                resource = _intern(p + body.at[0], body.size[0])
                section = _intern(p + body.at[1], body.size[1])
                visitor = _ascii(p + body.at[2], body.size[2])
                province = None if body.size[3] < 0 else _intern(p + body.at[3], body.size[3])
                country = _intern(p + body.at[4], body.size[4])
                time_at, time_size = p + body.at[6], body.size[6]
            else:
                v = decode(value)
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
                if have_second and memcmp(time_at, previous_second, 19) == 0:
                    minute = minute_of_second
                else:
                    second = _latin1(time_at, 19)
                    found = PyDict_GetItem(seconds, second)
                    if found is NULL:
                        if viewed_at is None:
                            viewed_at = _ascii(time_at, time_size)
                        minute_obj = local_minute(parse_time_ms(viewed_at))
                        seconds[second] = minute_obj
                    else:
                        minute_obj = <object>found
                    minute = minute_obj
                    memcpy(previous_second, time_at, 19)
                    have_second, minute_of_second = True, minute
            else:
                if viewed_at is None:
                    viewed_at = _ascii(time_at, time_size)
                minute = local_minute(parse_time_ms(viewed_at))
            key = (minute, resource, section, province or NO_PROVINCE, country)
        except Exception as exc:
            if offset >= warm_until:  # a warm-up record was dead-lettered by the previous owner
                malformed += 1
                malformed_list.append((record, f"malformed view beacon: {type(exc).__name__}: {exc}"))
            continue
        found = PyDict_GetItem(last_of, event_id)  # borrowed: read before the item is replaced
        has_last = found is not NULL
        if has_last:
            last = <object>found
        PyDict_SetItem(last_of, event_id, offset)
        if minute != current_minute:
            day = days.get(minute)
            if day is None:
                sk = uniques.day(minute_label(minute)[2])
                day = days[minute] = (sk.all.update, sk.res, sk.prov, sk.resource, sk.province)
            add_all, by_resource, by_province, new_resource, new_province = day
            current_minute = minute
        # idempotent: warm-up and replays are harmless
        add_all(visitor)
        _add(by_resource, resource, new_resource, visitor)
        if province:
            _add(by_province, province, new_province, visitor)
        if offset < warm_until:
            continue
        if has_last and last < offset and offset - last <= window:
            duplicates += 1
            continue
        found = PyDict_GetItem(number_of, key)
        if found is NULL:
            number = len(keys)
            PyDict_SetItem(number_of, key, number)
            PyList_Append(keys, key)
        else:
            number = <object>found
        offsets.data.as_longlongs[queued] = offset
        numbers.data.as_longlongs[queued] = number
        queued += 1
    array.resize(offsets, queued)
    array.resize(numbers, queued)
    state.position = records[n_records - 1][0]
    dedup.prune(state.position)
    state.pending.extend(offsets, numbers)
    return queued, duplicates, malformed


cdef inline str _latin1(const unsigned char *p, Py_ssize_t n):
    """The string of these 1-byte characters (ASCII from a body read in C, Latin-1 from msgspec's string)."""
    return PyUnicode_DecodeLatin1(<const char *>p, n, NULL)
