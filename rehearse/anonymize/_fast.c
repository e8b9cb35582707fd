/* rehearse.anonymize._fast: the per-value work of keyed fakes, in C.
 *
 * Optional: when this module is not built, keyed.py and fakes.py make the same values with
 * pandas and numpy (tests/snapshot/test_fast_paths.py compares the two on every kind).
 *
 *   sip_hashes(values, key)        keyed SipHash-2-4 of each str's UTF-8 bytes (surrogates passed
 *                                  through), finalized with splitmix64's mixer: the numbers
 *                                  pandas.util.hash_array gives; returned as a bytearray of n
 *                                  native uint64
 *   compose(n, parts)              n strings, each the concatenation of its parts, a part being a
 *                                  str (the same for every value), (pool, picks) (pool[picks[i]]:
 *                                  a list of str and a buffer of n Py_ssize_t), (column, a, b)
 *                                  (column[i][a:len - b]: a list of n str), or a buffer of n
 *                                  uint64 (16 lowercase hex digits of each)
 *   split_rows(data, nfields)      the reverse, for ASCII COPY text: (nfields lists of str, one per
 *                                  column, and whether any backslash is not a NULL marker's);
 *                                  None when data is not ASCII or a line does not hold nfields
 *                                  fields (the caller decodes and splits those itself)
 *   dictionary_digests(values, min_length, number_length)
 *                                  hash() of each ASCII value stripped of whitespace and lowercased,
 *                                  leaving out values holding a backslash, tab, newline or carriage
 *                                  return, values shorter than min_length and numbers shorter than
 *                                  number_length: what ValueDictionary.add hashes past its cap, as
 *                                  native int64 in a bytearray; None when a value is not ASCII
 *   json_split(fields, keys)       jsonb documents as COPY fields (jsonb's own text: {"k": v, ...})
 *                                  -> (rests, one list of values per key, unsplit): what PostgreSQL's
 *                                  `doc - keys` and `doc -> key` would give, as text (None: NULL or
 *                                  absent); a document that is not an object is its own rest; the
 *                                  positions of documents holding a backslash, or not in jsonb's
 *                                  form, are listed in unsplit (their rest is "{}", for the caller
 *                                  to transform whole)
 *   changed(values, made)          the values whose made counterpart differs (a list)
 *   shortest(values)               the length of the shortest str (0 for no values)
 *   digests(values)                hash() of each str, as n native int64 in a bytearray (what
 *                                  numpy.fromiter(map(hash, values)) gives, without the iterator)
 *   join_rows(columns)             COPY text of rows: the i-th fields of the columns joined by tabs,
 *                                  each row ended by a newline, as bytes; None when a field is not
 *                                  ASCII (the caller joins and encodes those batches itself)
 *   fill_digits(templates, which, numbers)
 *                                  n strings, templates[which[i]] with each character U+E000+k
 *                                  (k < 20) replaced by the k-th of the 20 zero-padded decimal
 *                                  digits of numbers[i]
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* --- SipHash-2-4 (Aumasson and Bernstein's reference, 64-bit output) -------------------------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                  \
    do {                                                                                          \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                                  \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                                     \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                                     \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                                  \
    } while (0)

static inline uint64_t load64_le(const unsigned char *p) {
    return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) | ((uint64_t)p[3] << 24) |
           ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) | ((uint64_t)p[6] << 48) | ((uint64_t)p[7] << 56);
}

static uint64_t siphash24(const unsigned char *in, size_t inlen, uint64_t k0, uint64_t k1) {
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    uint64_t b = ((uint64_t)inlen) << 56, m;
    const unsigned char *end = in + inlen - (inlen % 8);
    for (; in != end; in += 8) {
        m = load64_le(in);
        v3 ^= m;
        SIPROUND; SIPROUND;
        v0 ^= m;
    }
    switch (inlen & 7) {
        case 7: b |= ((uint64_t)in[6]) << 48; /* fall through */
        case 6: b |= ((uint64_t)in[5]) << 40; /* fall through */
        case 5: b |= ((uint64_t)in[4]) << 32; /* fall through */
        case 4: b |= ((uint64_t)in[3]) << 24; /* fall through */
        case 3: b |= ((uint64_t)in[2]) << 16; /* fall through */
        case 2: b |= ((uint64_t)in[1]) << 8;  /* fall through */
        case 1: b |= ((uint64_t)in[0]); break;
        case 0: break;
    }
    v3 ^= b;
    SIPROUND; SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND; SIPROUND; SIPROUND; SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static inline uint64_t mix64(uint64_t x) {  /* the finalizer pandas applies after SipHash */
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static PyObject *sip_hashes(PyObject *self, PyObject *args) {
    PyObject *values;
    Py_buffer key;
    if (!PyArg_ParseTuple(args, "O!y*", &PyList_Type, &values, &key))
        return NULL;
    if (key.len != 16) {
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "the key must be 16 bytes");
        return NULL;
    }
    uint64_t k0 = load64_le((const unsigned char *)key.buf), k1 = load64_le((const unsigned char *)key.buf + 8);
    PyBuffer_Release(&key);
    Py_ssize_t n = PyList_GET_SIZE(values);
    PyObject *out = PyByteArray_FromStringAndSize(NULL, n * 8);  /* writable: numpy views it in place */
    if (out == NULL)
        return NULL;
    uint64_t *dst = (uint64_t *)PyByteArray_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyList_GET_ITEM(values, i);
        if (!PyUnicode_Check(v)) {
            Py_DECREF(out);
            PyErr_Format(PyExc_TypeError, "sip_hashes takes str values, not %.50s", Py_TYPE(v)->tp_name);
            return NULL;
        }
        if (PyUnicode_IS_COMPACT_ASCII(v)) {  /* its UTF-8 is its data */
            dst[i] = mix64(siphash24((const unsigned char *)PyUnicode_DATA(v), (size_t)PyUnicode_GET_LENGTH(v), k0, k1));
            continue;
        }
        /* surrogatepass: what siphash24 is given for text of a SQL_ASCII database; valid text
           encodes the same as under "strict" */
        PyObject *b = PyUnicode_AsEncodedString(v, "utf-8", "surrogatepass");
        if (b == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        dst[i] = mix64(siphash24((const unsigned char *)PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b), k0, k1));
        Py_DECREF(b);
    }
    return out;
}

/* --- compose ------------------------------------------------------------------------------- */

enum { PART_TEXT, PART_POOL, PART_HEX, PART_COLUMN };

typedef struct {
    int kind;
    PyObject *text;     /* PART_TEXT */
    PyObject *pool;     /* PART_POOL: a list of str; PART_COLUMN: a list of n str */
    Py_ssize_t cut_start, cut_end;  /* PART_COLUMN: characters left out at each end */
    Py_buffer buf;      /* PART_POOL: picks (Py_ssize_t); PART_HEX: numbers (uint64) */
    int has_buf;
} Part;

static const char HEX[] = "0123456789abcdef";

/* the widest character of s[from:from + len] (a str must be made in the narrowest kind that holds it) */
static Py_UCS4 max_char(PyObject *s, Py_ssize_t from, Py_ssize_t len) {
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    Py_UCS4 m = 0;
    for (Py_ssize_t k = from; k < from + len; k++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, k);
        if (c > m)
            m = c;
    }
    return m;
}

static void release_parts(Part *parts, Py_ssize_t np) {
    for (Py_ssize_t j = 0; j < np; j++)
        if (parts[j].has_buf)
            PyBuffer_Release(&parts[j].buf);
    PyMem_Free(parts);
}

static PyObject *compose(PyObject *self, PyObject *args) {
    Py_ssize_t n;
    PyObject *spec;
    if (!PyArg_ParseTuple(args, "nO!", &n, &PyTuple_Type, &spec))
        return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "n must not be negative");
        return NULL;
    }
    Py_ssize_t np = PyTuple_GET_SIZE(spec);
    Part *parts = PyMem_Calloc(np ? np : 1, sizeof(Part));
    if (parts == NULL)
        return PyErr_NoMemory();
    Py_UCS4 fixed_max = 127;
    Py_ssize_t fixed_len = 0;
    for (Py_ssize_t j = 0; j < np; j++) {
        PyObject *p = PyTuple_GET_ITEM(spec, j);
        Part *q = &parts[j];
        if (PyUnicode_Check(p)) {
            q->kind = PART_TEXT;
            q->text = p;
            fixed_len += PyUnicode_GET_LENGTH(p);
            if (PyUnicode_MAX_CHAR_VALUE(p) > fixed_max)
                fixed_max = PyUnicode_MAX_CHAR_VALUE(p);
        } else if (PyTuple_Check(p) && PyTuple_GET_SIZE(p) == 2 && PyList_Check(PyTuple_GET_ITEM(p, 0))) {
            q->kind = PART_POOL;
            q->pool = PyTuple_GET_ITEM(p, 0);
            if (PyObject_GetBuffer(PyTuple_GET_ITEM(p, 1), &q->buf, PyBUF_SIMPLE) < 0)
                goto fail;
            q->has_buf = 1;
            if (q->buf.len != n * (Py_ssize_t)sizeof(Py_ssize_t)) {
                PyErr_SetString(PyExc_ValueError, "a pool's picks must hold n Py_ssize_t");
                goto fail;
            }
            Py_ssize_t size = PyList_GET_SIZE(q->pool);
            for (Py_ssize_t k = 0; k < size; k++)
                if (!PyUnicode_Check(PyList_GET_ITEM(q->pool, k))) {
                    PyErr_SetString(PyExc_TypeError, "a pool holds str values only");
                    goto fail;
                }
            const Py_ssize_t *picks = q->buf.buf;
            for (Py_ssize_t i = 0; i < n; i++)
                if (picks[i] < 0 || picks[i] >= size) {
                    PyErr_SetString(PyExc_IndexError, "a pick is outside its pool");
                    goto fail;
                }
        } else if (PyTuple_Check(p) && PyTuple_GET_SIZE(p) == 3 && PyList_Check(PyTuple_GET_ITEM(p, 0))) {
            q->kind = PART_COLUMN;
            q->pool = PyTuple_GET_ITEM(p, 0);
            q->cut_start = PyLong_AsSsize_t(PyTuple_GET_ITEM(p, 1));
            q->cut_end = PyLong_AsSsize_t(PyTuple_GET_ITEM(p, 2));
            if (PyErr_Occurred())
                goto fail;
            if (q->cut_start < 0 || q->cut_end < 0) {
                PyErr_SetString(PyExc_ValueError, "a column's cuts must not be negative");
                goto fail;
            }
            if (PyList_GET_SIZE(q->pool) != n) {
                PyErr_SetString(PyExc_ValueError, "a column part must hold n values");
                goto fail;
            }
            for (Py_ssize_t k = 0; k < n; k++) {
                PyObject *v = PyList_GET_ITEM(q->pool, k);
                if (!PyUnicode_Check(v)) {
                    PyErr_SetString(PyExc_TypeError, "a column holds str values only");
                    goto fail;
                }
                if (PyUnicode_GET_LENGTH(v) < q->cut_start + q->cut_end) {
                    PyErr_SetString(PyExc_ValueError, "a column value is shorter than its cuts");
                    goto fail;
                }
            }
        } else if (PyObject_CheckBuffer(p)) {
            q->kind = PART_HEX;
            if (PyObject_GetBuffer(p, &q->buf, PyBUF_SIMPLE) < 0)
                goto fail;
            q->has_buf = 1;
            if (q->buf.len != n * 8) {
                PyErr_SetString(PyExc_ValueError, "a hex part must hold n uint64");
                goto fail;
            }
            fixed_len += 16;
        } else {
            PyErr_SetString(PyExc_TypeError, "a part is a str, a (pool, picks) pair or a uint64 buffer");
            goto fail;
        }
    }
    PyObject *out = PyList_New(n);
    if (out == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t len = fixed_len;
        Py_UCS4 maxc = fixed_max;
        for (Py_ssize_t j = 0; j < np; j++) {
            if (parts[j].kind == PART_POOL || parts[j].kind == PART_COLUMN) {
                PyObject *s = parts[j].kind == PART_POOL
                    ? PyList_GET_ITEM(parts[j].pool, ((const Py_ssize_t *)parts[j].buf.buf)[i])
                    : PyList_GET_ITEM(parts[j].pool, i);
                Py_UCS4 m = PyUnicode_MAX_CHAR_VALUE(s);  /* 127, 255, 65535 or 1114111: the kind's bound */
                if (parts[j].kind == PART_COLUMN) {
                    Py_ssize_t from = parts[j].cut_start, plen = PyUnicode_GET_LENGTH(s) - from - parts[j].cut_end;
                    len += plen;
                    if (m > maxc && (parts[j].cut_start || parts[j].cut_end))
                        m = max_char(s, from, plen);  /* the cut ends may have held the widest character */
                } else
                    len += PyUnicode_GET_LENGTH(s);
                if (m > maxc)
                    maxc = m;
            }
        }
        PyObject *s = PyUnicode_New(len, maxc);
        if (s == NULL) {
            Py_DECREF(out);
            goto fail;
        }
        int kind = PyUnicode_KIND(s);
        void *data = PyUnicode_DATA(s);
        Py_ssize_t pos = 0;
        for (Py_ssize_t j = 0; j < np; j++) {
            Part *q = &parts[j];
            if (q->kind == PART_HEX) {
                uint64_t x = ((const uint64_t *)q->buf.buf)[i];
                for (int d = 15; d >= 0; d--) {
                    PyUnicode_WRITE(kind, data, pos + d, HEX[x & 15]);
                    x >>= 4;
                }
                pos += 16;
                continue;
            }
            PyObject *piece = q->kind == PART_TEXT ? q->text
                              : q->kind == PART_COLUMN ? PyList_GET_ITEM(q->pool, i)
                              : PyList_GET_ITEM(q->pool, ((const Py_ssize_t *)q->buf.buf)[i]);
            Py_ssize_t from = q->kind == PART_COLUMN ? q->cut_start : 0;
            Py_ssize_t plen = PyUnicode_GET_LENGTH(piece) - (q->kind == PART_COLUMN ? q->cut_start + q->cut_end : 0);
            if (kind == PyUnicode_1BYTE_KIND && PyUnicode_KIND(piece) == PyUnicode_1BYTE_KIND)
                memcpy((Py_UCS1 *)data + pos, (const Py_UCS1 *)PyUnicode_DATA(piece) + from, plen);
            else if (PyUnicode_CopyCharacters(s, pos, piece, from, plen) < 0) {
                Py_DECREF(s);
                Py_DECREF(out);
                goto fail;
            }
            pos += plen;
        }
        PyList_SET_ITEM(out, i, s);
    }
    release_parts(parts, np);
    return out;
fail:
    release_parts(parts, np);
    return NULL;
}

/* --- fill_digits --------------------------------------------------------------------------- */

static PyObject *fill_digits(PyObject *self, PyObject *args) {
    PyObject *templates;
    Py_buffer which, numbers;
    if (!PyArg_ParseTuple(args, "O!y*y*", &PyList_Type, &templates, &which, &numbers))
        return NULL;
    PyObject *out = NULL;
    Py_ssize_t n = which.len / (Py_ssize_t)sizeof(Py_ssize_t);
    Py_ssize_t nt = PyList_GET_SIZE(templates);
    if (which.len != n * (Py_ssize_t)sizeof(Py_ssize_t) || numbers.len != n * 8) {
        PyErr_SetString(PyExc_ValueError, "which and numbers must hold one Py_ssize_t and one uint64 per value");
        goto done;
    }
    for (Py_ssize_t t = 0; t < nt; t++)
        if (!PyUnicode_Check(PyList_GET_ITEM(templates, t))) {
            PyErr_SetString(PyExc_TypeError, "templates must be str");
            goto done;
        }
    const Py_ssize_t *w = which.buf;
    const uint64_t *nums = numbers.buf;
    out = PyList_New(n);
    if (out == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (w[i] < 0 || w[i] >= nt) {
            PyErr_SetString(PyExc_IndexError, "a template pick is out of range");
            Py_CLEAR(out);
            goto done;
        }
        PyObject *tpl = PyList_GET_ITEM(templates, w[i]);
        Py_ssize_t len = PyUnicode_GET_LENGTH(tpl);
        int tkind = PyUnicode_KIND(tpl);
        const void *tdata = PyUnicode_DATA(tpl);
        char digits[20];
        uint64_t x = nums[i];
        for (int d = 19; d >= 0; d--) {
            digits[d] = (char)('0' + (x % 10));
            x /= 10;
        }
        Py_UCS4 maxc = 127;
        for (Py_ssize_t k = 0; k < len; k++) {
            Py_UCS4 c = PyUnicode_READ(tkind, tdata, k);
            if (!(c >= 0xE000 && c < 0xE014) && c > maxc)
                maxc = c;
        }
        PyObject *s = PyUnicode_New(len, maxc);
        if (s == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        int kind = PyUnicode_KIND(s);
        void *data = PyUnicode_DATA(s);
        for (Py_ssize_t k = 0; k < len; k++) {
            Py_UCS4 c = PyUnicode_READ(tkind, tdata, k);
            if (c >= 0xE000 && c < 0xE014)
                c = (Py_UCS4)digits[c - 0xE000];
            PyUnicode_WRITE(kind, data, k, c);
        }
        PyList_SET_ITEM(out, i, s);
    }
done:
    PyBuffer_Release(&which);
    PyBuffer_Release(&numbers);
    return out;
}

/* --- join_rows ---------------------------------------------------------------------------- */

static PyObject *join_rows(PyObject *self, PyObject *args) {
    PyObject *columns;
    if (!PyArg_ParseTuple(args, "O!", &PyList_Type, &columns))
        return NULL;
    Py_ssize_t nc = PyList_GET_SIZE(columns);
    if (nc == 0)
        return PyBytes_FromStringAndSize("", 0);
    Py_ssize_t n = -1, total = 0;
    for (Py_ssize_t c = 0; c < nc; c++) {
        PyObject *col = PyList_GET_ITEM(columns, c);
        if (!PyList_Check(col)) {
            PyErr_SetString(PyExc_TypeError, "columns must be lists");
            return NULL;
        }
        if (n < 0)
            n = PyList_GET_SIZE(col);
        else if (PyList_GET_SIZE(col) != n) {
            PyErr_SetString(PyExc_ValueError, "columns must be of one length");
            return NULL;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *v = PyList_GET_ITEM(col, i);
            if (!PyUnicode_Check(v)) {
                PyErr_SetString(PyExc_TypeError, "fields must be str");
                return NULL;
            }
            if (!PyUnicode_IS_COMPACT_ASCII(v))
                Py_RETURN_NONE;
            total += PyUnicode_GET_LENGTH(v);
        }
    }
    total += n * nc;  /* a tab after each field but the last of a row, which a newline ends */
    PyObject *out = PyBytes_FromStringAndSize(NULL, total);
    if (out == NULL)
        return NULL;
    char *dst = PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        for (Py_ssize_t c = 0; c < nc; c++) {
            PyObject *v = PyList_GET_ITEM(PyList_GET_ITEM(columns, c), i);
            Py_ssize_t len = PyUnicode_GET_LENGTH(v);
            memcpy(dst, PyUnicode_DATA(v), len);
            dst += len;
            *dst++ = c == nc - 1 ? '\n' : '\t';
        }
    }
    return out;
}

/* --- split_rows, digests ------------------------------------------------------------------ */

static PyObject *split_rows(PyObject *self, PyObject *args) {
    Py_buffer data;
    Py_ssize_t nf;
    if (!PyArg_ParseTuple(args, "y*n", &data, &nf))
        return NULL;
    PyObject *columns = NULL;
    const unsigned char *p = data.buf, *end = p + data.len;
    if (nf <= 0) {
        PyErr_SetString(PyExc_ValueError, "nfields must be positive");
        goto done;
    }
    Py_ssize_t lines = 0, tabs = 0, escapes = 0;
    for (const unsigned char *q = p; q < end; q++) {
        if (*q & 0x80)
            goto none;
        lines += *q == '\n';
        tabs += *q == '\t';
        if (*q == '\\') {  /* an escape other than \N (NULL) means the batch must be decoded */
            if (q + 1 < end && q[1] == 'N')
                q++;
            else
                escapes++, q += q + 1 < end;  /* \\ is one escape: skip its second backslash */
        }
    }
    if (data.len && end[-1] != '\n')
        goto none;
    if (tabs != lines * (nf - 1))  /* the per-line test below catches a short line beside a long one */
        goto none;
    columns = PyList_New(nf);
    if (columns == NULL)
        goto done;
    for (Py_ssize_t c = 0; c < nf; c++) {
        PyObject *col = PyList_New(lines);
        if (col == NULL) {
            Py_CLEAR(columns);
            goto done;
        }
        PyList_SET_ITEM(columns, c, col);
    }
    for (Py_ssize_t i = 0; i < lines; i++) {
        for (Py_ssize_t c = 0; c < nf; c++) {
            const unsigned char *q = p;
            unsigned char stop = c == nf - 1 ? '\n' : '\t';
            while (q < end && *q != '\t' && *q != '\n')
                q++;
            if (q == end || *q != stop) {
                Py_CLEAR(columns);
                goto none;
            }
            PyObject *v = PyUnicode_New(q - p, 127);
            if (v == NULL) {
                Py_CLEAR(columns);
                goto done;
            }
            memcpy(PyUnicode_DATA(v), p, q - p);
            PyList_SET_ITEM(PyList_GET_ITEM(columns, c), i, v);
            p = q + 1;
        }
    }
    PyBuffer_Release(&data);
    return Py_BuildValue("(NO)", columns, escapes ? Py_True : Py_False);
none:
    PyBuffer_Release(&data);
    Py_RETURN_NONE;
done:
    PyBuffer_Release(&data);
    return columns;
}

static PyObject *dictionary_digests(PyObject *self, PyObject *args) {
    PyObject *values;
    Py_ssize_t min_length, number_length;
    if (!PyArg_ParseTuple(args, "O!nn", &PyList_Type, &values, &min_length, &number_length))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(values), kept = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyList_GET_ITEM(values, i);
        if (!PyUnicode_Check(v)) {
            PyErr_SetString(PyExc_TypeError, "dictionary_digests takes str values");
            return NULL;
        }
        if (!PyUnicode_IS_COMPACT_ASCII(v))
            Py_RETURN_NONE;
    }
    PyObject *out = PyByteArray_FromStringAndSize(NULL, n * 8);
    if (out == NULL)
        return NULL;
    int64_t *dst = (int64_t *)PyByteArray_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyList_GET_ITEM(values, i);
        const unsigned char *d = PyUnicode_DATA(v);
        Py_ssize_t len = PyUnicode_GET_LENGTH(v), a = 0, b = len;
        if (memchr(d, '\\', len) || memchr(d, '\t', len) || memchr(d, '\n', len) || memchr(d, '\r', len))
            continue;
        /* str.strip(): ASCII whitespace is space, \t-\r and \x1c-\x1f */
#define ISSPACE(c) ((c) == ' ' || ((c) >= 0x09 && (c) <= 0x0d) || ((c) >= 0x1c && (c) <= 0x1f))
        while (a < b && ISSPACE(d[a]))
            a++;
        while (b > a && ISSPACE(d[b - 1]))
            b--;
#undef ISSPACE
        Py_ssize_t klen = b - a;
        if (klen < min_length)
            continue;
        if (klen < number_length) {
            int digits = 1;
            for (Py_ssize_t k = a; k < b && digits; k++)
                digits = d[k] >= '0' && d[k] <= '9';
            if (digits)
                continue;
        }
        PyObject *key = PyUnicode_New(klen, 127);
        if (key == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        unsigned char *kd = PyUnicode_DATA(key);
        for (Py_ssize_t k = 0; k < klen; k++) {
            unsigned char c = d[a + k];
            kd[k] = c >= 'A' && c <= 'Z' ? c + 32 : c;
        }
        Py_hash_t h = PyObject_Hash(key);
        Py_DECREF(key);
        if (h == -1 && PyErr_Occurred()) {
            Py_DECREF(out);
            return NULL;
        }
        dst[kept++] = (int64_t)h;
    }
    if (PyByteArray_Resize(out, kept * 8) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

/* the end of the JSON value starting at k (jsonb's text, no backslashes), or -1 */
static Py_ssize_t json_value_end(int kind, const void *d, Py_ssize_t k, Py_ssize_t len) {
    if (k >= len)
        return -1;
    Py_UCS4 c = PyUnicode_READ(kind, d, k);
    if (c == '"') {
        for (k++; k < len; k++)
            if (PyUnicode_READ(kind, d, k) == '"')
                return k + 1;
        return -1;
    }
    if (c == '{' || c == '[') {
        Py_ssize_t depth = 0;
        for (; k < len; k++) {
            c = PyUnicode_READ(kind, d, k);
            if (c == '"') {
                for (k++; k < len && PyUnicode_READ(kind, d, k) != '"'; k++)
                    ;
                if (k >= len)
                    return -1;
            } else if (c == '{' || c == '[')
                depth++;
            else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return k + 1;
            }
        }
        return -1;
    }
    for (; k < len; k++) {  /* a number, true, false or null */
        c = PyUnicode_READ(kind, d, k);
        if (c == ',' || c == '}' || c == ']')
            return k;
    }
    return -1;
}

/* json_value_end for ASCII text, by pointer */
static const char *ascii_value_end(const char *k, const char *end) {
    if (k >= end)
        return NULL;
    if (*k == '"') {
        const char *q = memchr(k + 1, '"', end - k - 1);
        return q ? q + 1 : NULL;
    }
    if (*k == '{' || *k == '[') {
        Py_ssize_t depth = 0;
        for (; k < end; k++) {
            if (*k == '"') {
                k = memchr(k + 1, '"', end - k - 1);
                if (k == NULL)
                    return NULL;
            } else if (*k == '{' || *k == '[')
                depth++;
            else if ((*k == '}' || *k == ']') && --depth == 0)
                return k + 1;
        }
        return NULL;
    }
    for (; k < end; k++)
        if (*k == ',' || *k == '}' || *k == ']')
            return k;
    return NULL;
}

static PyObject *ascii_str(const char *p, Py_ssize_t len) {
    PyObject *s = PyUnicode_New(len, 127);
    if (s != NULL)
        memcpy(PyUnicode_DATA(s), p, len);
    return s;
}

#define MAX_PAIRS 64

/* one ASCII object document (no backslash, starting with '{', longer than "{}"): 1 split, 0 not
   in jsonb's form (left whole), -1 error. Values go into values[j][i]; *rest is set on 1. */
static int split_ascii_doc(PyObject *f, PyObject *keys, PyObject *values, Py_ssize_t i, PyObject **rest) {
    const char *d = (const char *)PyUnicode_DATA(f), *end = d + PyUnicode_GET_LENGTH(f), *k = d + 1;
    Py_ssize_t nk = PyTuple_GET_SIZE(keys), nkept = 0, kept_len = 0;
    const char *kept_at[MAX_PAIRS];
    Py_ssize_t kept_n[MAX_PAIRS];
    PyObject *found[MAX_PAIRS] = {NULL};
    int took = 0, ok = 0;
    if (nk > MAX_PAIRS)
        return 0;
    while (k < end) {
        if (*k != '"')
            break;
        const char *key_end = memchr(k + 1, '"', end - k - 1);
        if (key_end == NULL || key_end + 2 >= end || key_end[1] != ':' || key_end[2] != ' ')
            break;
        const char *value_end = ascii_value_end(key_end + 3, end);
        if (value_end == NULL || value_end >= end)
            break;
        Py_ssize_t which = -1, klen = key_end - k - 1;
        for (Py_ssize_t j = 0; j < nk && which < 0; j++) {
            PyObject *key = PyTuple_GET_ITEM(keys, j);
            if (PyUnicode_IS_COMPACT_ASCII(key) && PyUnicode_GET_LENGTH(key) == klen &&
                memcmp(PyUnicode_DATA(key), k + 1, klen) == 0)
                which = j;
        }
        if (which >= 0) {
            if (found[which] == NULL) {
                found[which] = ascii_str(key_end + 3, value_end - key_end - 3);
                if (found[which] == NULL)
                    goto error;
            }
            took = 1;
        } else {
            if (nkept == MAX_PAIRS)
                break;
            kept_at[nkept] = k;
            kept_n[nkept] = value_end - k;
            kept_len += value_end - k;
            nkept++;
        }
        if (*value_end == '}' && value_end == end - 1) {
            ok = 1;
            break;
        }
        if (*value_end != ',' || value_end + 1 >= end || value_end[1] != ' ')
            break;
        k = value_end + 2;
    }
    if (!ok) {
        for (Py_ssize_t j = 0; j < nk; j++)
            Py_XDECREF(found[j]);
        return 0;
    }
    if (!took) {
        Py_INCREF(f);
        *rest = f;
        return 1;
    }
    Py_ssize_t total = 2 + kept_len + (nkept ? 2 * (nkept - 1) : 0);
    PyObject *r = PyUnicode_New(total, 127);
    if (r == NULL)
        goto error;
    char *w = (char *)PyUnicode_DATA(r);
    *w++ = '{';
    for (Py_ssize_t q = 0; q < nkept; q++) {
        if (q) {
            *w++ = ',';
            *w++ = ' ';
        }
        memcpy(w, kept_at[q], kept_n[q]);
        w += kept_n[q];
    }
    *w = '}';
    for (Py_ssize_t j = 0; j < nk; j++)
        if (found[j] != NULL)
            PyList_SetItem(PyList_GET_ITEM(values, j), i, found[j]);  /* steals, drops the None */
    *rest = r;
    return 1;
error:
    for (Py_ssize_t j = 0; j < nk; j++)
        Py_XDECREF(found[j]);
    return -1;
}

static PyObject *json_split(PyObject *self, PyObject *args) {
    PyObject *fields, *keys;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &fields, &PyTuple_Type, &keys))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(fields), nk = PyTuple_GET_SIZE(keys);
    for (Py_ssize_t j = 0; j < nk; j++)
        if (!PyUnicode_Check(PyTuple_GET_ITEM(keys, j))) {
            PyErr_SetString(PyExc_TypeError, "keys must be str");
            return NULL;
        }
    PyObject *rests = PyList_New(n), *values = PyList_New(nk), *unsplit = PyList_New(0);
    PyObject *kept = PyList_New(0), *sep = PyUnicode_FromString(", "), *empty = PyUnicode_FromString("{}");
    PyObject *result = NULL;
    if (!rests || !values || !unsplit || !kept || !sep || !empty)
        goto done;
    for (Py_ssize_t j = 0; j < nk; j++) {
        PyObject *col = PyList_New(n);
        if (col == NULL)
            goto done;
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_INCREF(Py_None);
            PyList_SET_ITEM(col, i, Py_None);
        }
        PyList_SET_ITEM(values, j, col);
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *f = PyList_GET_ITEM(fields, i);
        if (!PyUnicode_Check(f)) {
            PyErr_SetString(PyExc_TypeError, "fields must be str");
            goto done;
        }
        Py_ssize_t len = PyUnicode_GET_LENGTH(f);
        int kind = PyUnicode_KIND(f);
        const void *d = PyUnicode_DATA(f);
        PyObject *rest = NULL;
        if (len == 2 && PyUnicode_READ(kind, d, 0) == '\\' && PyUnicode_READ(kind, d, 1) == 'N') {
            Py_INCREF(Py_None);
            PyList_SET_ITEM(rests, i, Py_None);  /* a NULL document */
            continue;
        }
        if (PyUnicode_FindChar(f, '\\', 0, len, 1) >= 0)
            goto whole;  /* COPY escapes on top of JSON's: the caller decodes and walks it */
        if (len == 0 || PyUnicode_READ(kind, d, 0) != '{') {
            Py_INCREF(f);
            PyList_SET_ITEM(rests, i, f);  /* an array or a scalar: its own rest, no keys */
            continue;
        }
        if (len == 2 && PyUnicode_READ(kind, d, 1) == '}') {
            Py_INCREF(empty);
            PyList_SET_ITEM(rests, i, empty);
            continue;
        }
        if (PyUnicode_IS_COMPACT_ASCII(f)) {  /* the common case, by pointer */
            int r = split_ascii_doc(f, keys, values, i, &rest);
            if (r < 0)
                goto done;
            if (r == 0)
                goto whole;
            PyList_SET_ITEM(rests, i, rest);
            continue;
        }
        if (PyList_SetSlice(kept, 0, PyList_GET_SIZE(kept), NULL) < 0)
            goto done;
        Py_ssize_t k = 1;
        int ok = 0, took = 0;
        while (k < len) {  /* "key": value, then ", " or the closing brace */
            Py_ssize_t pair = k, key_end, value_start, value_end;
            if (PyUnicode_READ(kind, d, k) != '"')
                break;
            key_end = PyUnicode_FindChar(f, '"', k + 1, len, 1);
            if (key_end < 0 || key_end + 2 >= len || PyUnicode_READ(kind, d, key_end + 1) != ':' ||
                PyUnicode_READ(kind, d, key_end + 2) != ' ')
                break;
            value_start = key_end + 3;
            value_end = json_value_end(kind, d, value_start, len);
            if (value_end < 0 || value_end >= len)
                break;
            Py_ssize_t which = -1;
            for (Py_ssize_t j = 0; j < nk && which < 0; j++) {
                PyObject *key = PyTuple_GET_ITEM(keys, j);
                if (PyUnicode_GET_LENGTH(key) == key_end - k - 1 &&
                    PyUnicode_Tailmatch(f, key, k + 1, key_end, -1) == 1)
                    which = j;
            }
            PyObject *piece = which >= 0 ? PyUnicode_Substring(f, value_start, value_end)
                                         : PyUnicode_Substring(f, pair, value_end);
            if (piece == NULL)
                goto done;
            if (which >= 0) {
                PyList_SetItem(PyList_GET_ITEM(values, which), i, piece);  /* steals piece, drops None */
                took = 1;
            } else {
                int r = PyList_Append(kept, piece);
                Py_DECREF(piece);
                if (r < 0)
                    goto done;
            }
            Py_UCS4 c = PyUnicode_READ(kind, d, value_end);
            if (c == '}' && value_end == len - 1) {
                ok = 1;
                break;
            }
            if (c != ',' || value_end + 1 >= len || PyUnicode_READ(kind, d, value_end + 1) != ' ')
                break;
            k = value_end + 2;
        }
        if (!ok) {
            for (Py_ssize_t j = 0; j < nk; j++) {  /* no half-split document */
                Py_INCREF(Py_None);
                PyList_SetItem(PyList_GET_ITEM(values, j), i, Py_None);
            }
            goto whole;
        }
        if (!took) {
            Py_INCREF(f);
            rest = f;
        } else {
            PyObject *inner = PyUnicode_Join(sep, kept);
            if (inner == NULL)
                goto done;
            rest = PyUnicode_FromFormat("{%U}", inner);
            Py_DECREF(inner);
            if (rest == NULL)
                goto done;
        }
        PyList_SET_ITEM(rests, i, rest);
        continue;
    whole:
        Py_INCREF(empty);
        PyList_SET_ITEM(rests, i, empty);
        {
            PyObject *at = PyLong_FromSsize_t(i);
            if (at == NULL || PyList_Append(unsplit, at) < 0) {
                Py_XDECREF(at);
                goto done;
            }
            Py_DECREF(at);
        }
    }
    result = PyTuple_Pack(3, rests, values, unsplit);
done:
    Py_XDECREF(rests);
    Py_XDECREF(values);
    Py_XDECREF(unsplit);
    Py_XDECREF(kept);
    Py_XDECREF(sep);
    Py_XDECREF(empty);
    return result;
}

static PyObject *changed(PyObject *self, PyObject *args) {
    PyObject *values, *made;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &values, &PyList_Type, &made))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(values);
    if (PyList_GET_SIZE(made) != n) {
        PyErr_SetString(PyExc_ValueError, "values and made must be of one length");
        return NULL;
    }
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyList_GET_ITEM(values, i), *m = PyList_GET_ITEM(made, i);
        int same = v == m ? 1 : PyObject_RichCompareBool(v, m, Py_EQ);
        if (same < 0 || (!same && PyList_Append(out, v) < 0)) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

static PyObject *shortest(PyObject *self, PyObject *args) {
    PyObject *values;
    if (!PyArg_ParseTuple(args, "O!", &PyList_Type, &values))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(values), m = PY_SSIZE_T_MAX;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyList_GET_ITEM(values, i);
        if (!PyUnicode_Check(v)) {
            PyErr_SetString(PyExc_TypeError, "shortest takes str values");
            return NULL;
        }
        if (PyUnicode_GET_LENGTH(v) < m)
            m = PyUnicode_GET_LENGTH(v);
    }
    return PyLong_FromSsize_t(n ? m : 0);
}

static PyObject *digests(PyObject *self, PyObject *args) {
    PyObject *values;
    if (!PyArg_ParseTuple(args, "O!", &PyList_Type, &values))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(values);
    PyObject *out = PyByteArray_FromStringAndSize(NULL, n * 8);
    if (out == NULL)
        return NULL;
    int64_t *dst = (int64_t *)PyByteArray_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_hash_t h = PyObject_Hash(PyList_GET_ITEM(values, i));
        if (h == -1 && PyErr_Occurred()) {
            Py_DECREF(out);
            return NULL;
        }
        dst[i] = (int64_t)h;
    }
    return out;
}

static PyMethodDef methods[] = {
    {"sip_hashes", sip_hashes, METH_VARARGS, "Keyed SipHash-2-4 + splitmix64 finalizer of each str: n native uint64 in a bytearray."},
    {"compose", compose, METH_VARARGS, "n strings, each the concatenation of its parts."},
    {"fill_digits", fill_digits, METH_VARARGS, "Templates with digit markers filled from uint64 numbers."},
    {"split_rows", split_rows, METH_VARARGS, "ASCII COPY text -> one list of str per column (None: not ASCII, or ragged)."},
    {"dictionary_digests", dictionary_digests, METH_VARARGS, "hash() of each stripped, lowercased ASCII value kept by the dictionary's tests."},
    {"json_split", json_split, METH_VARARGS, "jsonb documents -> (rests, values per key, unsplit positions)."},
    {"changed", changed, METH_VARARGS, "The values whose made counterpart differs."},
    {"shortest", shortest, METH_VARARGS, "The length of the shortest str (0 for none)."},
    {"digests", digests, METH_VARARGS, "hash() of each value, as native int64 in a bytearray."},
    {"join_rows", join_rows, METH_VARARGS, "COPY text of rows from columns of ASCII fields, as bytes (None: a field is not ASCII)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fast", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fast(void) { return PyModule_Create(&module); }
