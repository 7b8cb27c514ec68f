/* The verifier and compiler of picklefence's fast path.
 *
 * verify(data, max_memo_index, max_memo_entries, max_mark_depth, max_string_bytes)
 * returns (end, protocol, program, payloads).
 *
 * `end` is the offset just past STOP when `data` starts with a well-formed pickle (no
 * argument straddles a FRAME, no stack underflow, memo reads of set slots, within the
 * limits) that the C unpickler can run with every operation that runs code handed back
 * to Python; otherwise -1 (no INST/OBJ, extension code, persistent id, buffer, text
 * opcode or unknown byte).
 *
 * `program` is None when the pickle has no global and runs no code: then `data` itself
 * is handed over.  Otherwise it is the pickle compiled for the C unpickler, in a single
 * FRAME (it reads the frame at once, not opcode by opcode): REDUCE, BUILD, NEWOBJ,
 * NEWOBJ_EX, and item opcodes on anything but a list/dict/set this pickle built become a
 * BINPERSID of (operands..., code), so the C unpickler calls `persistent_load`, which
 * runs the strict engine's handler for that opcode; FRAMEs are dropped (lengths change);
 * and each bytes/bytearray/str argument of at least PAYLOAD_MIN bytes after the first
 * global or operation (before it, the pickle may yet prove plain data) becomes NEXT_BUFFER,
 * and `payloads` an iterator that makes those objects from `data` as the C unpickler
 * asks for them: the program holds little besides opcodes, so a load holds no second
 * copy of the pickle's text and bytes (protocol 2's bytes, `_codecs.encode(text,
 * "latin1")`, become a BINPERSID of their own, and long text the bytes themselves).
 * The C unpickler then calls only find_class and persistent_load: every global, call
 * and change of an object goes through the strict engine, in stream order.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* What a stack or memo slot holds: a list, dict or set this pickle built (item opcodes
 * on it run natively), the global `_codecs.encode`, the text "latin1", a memo slot
 * whose object a fused encode changed (reading it declines), or anything else. */
enum { T_OTHER = 0, T_LIST = 1, T_DICT = 2, T_SET = 3, T_ENCODE = 4, T_LATIN1 = 5, T_SPENT = 6 };
enum { C_REDUCE = 1, C_BUILD, C_NEWOBJ, C_NEWOBJ_EX, C_APPEND, C_APPENDS, C_SETITEM, C_SETITEMS, C_ADDITEMS, C_LATIN1 };
/* Arguments handed over as out-of-band buffers (Edit.code); P_LATIN1 is a str argument
 * of `_codecs.encode(text, "latin1")` made directly into the bytes that call returns. */
enum { P_BYTES = -1, P_BYTEARRAY = -2, P_STR = -3, P_LATIN1 = -4 };
#define MEMO_CAP ((Py_ssize_t)1 << 24)
/* Shorter arguments stay in the program: their objects outweigh their bytes there. */
#define PAYLOAD_MIN 32

typedef struct {
    Py_ssize_t pos;   /* where the replaced bytes start */
    Py_ssize_t skip;  /* how many input bytes they span */
    int code;         /* C_* for an operation, 0 for a dropped FRAME, P_* for a payload */
    int header;       /* for a payload: the bytes of its opcode and length before it */
} Edit;

typedef struct {
    unsigned char *tags;  /* stack of tags */
    Py_ssize_t len, cap;
    Py_ssize_t *marks;    /* stack lengths at each MARK */
    Py_ssize_t nmarks, marks_cap;
    unsigned char *memo;  /* 0 = unset, else tag + 1 */
    Py_ssize_t memo_cap, memo_count;
    Edit *edits;
    Py_ssize_t nedits, edits_cap, ncode;  /* ncode: edits that are operations */
} State;

static int grow(void **ptr, Py_ssize_t *cap, Py_ssize_t need, size_t item) {
    if (need <= *cap) return 0;
    Py_ssize_t n = *cap ? *cap : 64;
    while (n < need) n *= 2;
    void *p = PyMem_Realloc(*ptr, (size_t)n * item);
    if (!p) return -1;
    if (item == 1) memset((char *)p + *cap, 0, (size_t)(n - *cap));  /* unset memo slots */
    *ptr = p;
    *cap = n;
    return 0;
}

static int push(State *s, unsigned char tag) {
    if (grow((void **)&s->tags, &s->cap, s->len + 1, 1) < 0) return -1;
    s->tags[s->len++] = tag;
    return 0;
}

static int edit(State *s, Py_ssize_t pos, Py_ssize_t skip, int code, int header) {
    if (grow((void **)&s->edits, &s->edits_cap, s->nedits + 1, sizeof(Edit)) < 0) return -1;
    s->edits[s->nedits++] = (Edit){pos, skip, code, header};
    if (code > 0) s->ncode++;
    return 0;
}

/* Items above the current mark. */
static Py_ssize_t level(State *s) { return s->len - (s->nmarks ? s->marks[s->nmarks - 1] : 0); }

static Py_ssize_t pop_mark(State *s) {  /* number of items popped, or -1 */
    if (!s->nmarks) return -1;
    Py_ssize_t base = s->marks[--s->nmarks];
    Py_ssize_t n = s->len - base;
    s->len = base;
    return n;
}

static Py_ssize_t u_le(const unsigned char *p, int n) {
    unsigned long long v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    if (v > (unsigned long long)PY_SSIZE_T_MAX) return -1;
    return (Py_ssize_t)v;
}

/* The bytes an operation edit becomes: its operands (and the code) as one tuple, then
 * BINPERSID.  SETITEM pairs its key and value; the mark-taking ones collect the items
 * into a list; NEWOBJ_EX nests its three operands. */
static Py_ssize_t spell(int code, unsigned char *out) {
    Py_ssize_t n = 0;
    if (code == C_SETITEM) out[n++] = 0x86;                                           /* TUPLE2 */
    if (code == C_APPENDS || code == C_SETITEMS || code == C_ADDITEMS) out[n++] = 'l';  /* LIST */
    if (code == C_NEWOBJ_EX) out[n++] = 0x87;                                         /* TUPLE3 */
    out[n++] = 'K';                                                                   /* BININT1 */
    out[n++] = (unsigned char)code;
    out[n++] = code == C_NEWOBJ_EX ? 0x86 : 0x87;                                     /* TUPLE2/3 */
    out[n++] = 'Q';                                                                   /* BINPERSID */
    return n;
}

/* The objects of the payload edits, made from the pickle's bytes one at a time. */
typedef struct {
    PyObject_HEAD
    Py_buffer data;
    Edit *edits;  /* the payload edits only */
    Py_ssize_t count, next;
} Payloads;

static void payloads_dealloc(Payloads *self) {
    PyBuffer_Release(&self->data);
    PyMem_Free(self->edits);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* `_codecs.encode(utf8.decode("utf-8", "surrogatepass"), "latin1")` without the str
 * between: protocol 2 spells bytes so, and for a numpy array's data that str is most of
 * a load's time.  Text with a character past U+00FF, or not UTF-8, is a ValueError (the
 * fast path declines and the strict engine runs the call).
 *
 * Latin-1 in UTF-8 is ASCII bytes, and lead bytes C2 or C3 each followed by one
 * continuation byte c (80-BF), which stands for U+00c after C2 and U+00c+40 after C3:
 * the value of byte c after byte b is c + ((c >> 1) & (b << 6) & 0x40) for an ASCII or
 * continuation c, and the bytes kept are all but the lead bytes.  The checks and values
 * need no branches, so they vectorize; packing the kept bytes is a shuffle per 8 bytes
 * where SSSE3 is there, a store per byte elsewhere. */

/* From p[i] (i >= 1: p[i - 1] is read) to p[n], packed at o; returns the new end of the
 * output and sets *bad if the bytes are not latin-1 in UTF-8. */
static unsigned char *pack_bytes(const unsigned char *p, Py_ssize_t i, Py_ssize_t n, unsigned char *o, unsigned *bad) {
    unsigned char values[4096], kept[4096];
    unsigned wrong = 0;
    for (; i < n; i += 4096) {
        Py_ssize_t len = n - i < 4096 ? n - i : 4096;
        const unsigned char *q = p + i;
        unsigned high = 0;
        for (Py_ssize_t j = 0; j < len; j++) {
            unsigned c = q[j], before = q[j - 1], lead = c >= 0xC0;
            values[j] = (unsigned char)(c + ((c >> 1) & (before << 6) & 0x40));
            kept[j] = (unsigned char)!lead;
            high |= c;
            wrong |= (lead & ((c & 0xFE) != 0xC2)) | (((c & 0xC0) == 0x80) ^ (before >= 0xC0));
        }
        if (!(high & 0x80)) {  /* an ASCII block, as it is */
            memcpy(o, q, (size_t)len);
            o += len;
            continue;
        }
        for (Py_ssize_t j = 0; j < len; j++) {  /* every value is stored, a lead byte's overwritten */
            *o = values[j];
            o += kept[j];
        }
    }
    *bad |= wrong;
    return o;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_SHUFFLE 1
static int has_ssse3;
/* For each mask of 8 kept bytes: their positions, then 0x80 (a zero byte), and how many. */
static unsigned char pack_order[256][8], pack_count[256];

static void init_shuffle(void) {
    __builtin_cpu_init();  /* (done already in a program's main code; a no-op then) */
    has_ssse3 = __builtin_cpu_supports("ssse3");
    for (int m = 0; m < 256; m++) {
        int k = 0;
        for (int b = 0; b < 8; b++)
            if (m >> b & 1) pack_order[m][k++] = (unsigned char)b;
        pack_count[m] = (unsigned char)k;
        while (k < 8) pack_order[m][k++] = 0x80;
    }
}

/* pack_bytes, 16 bytes at a time while 16 are left; returns where it stopped in *at. */
__attribute__((target("ssse3"))) static unsigned char *pack_shuffled(const unsigned char *p, Py_ssize_t *at,
                                                                     Py_ssize_t n, unsigned char *o, unsigned *bad) {
    const __m128i x40 = _mm_set1_epi8(0x40), x80 = _mm_set1_epi8((char)0x80), xC0 = _mm_set1_epi8((char)0xC0);
    const __m128i xC2 = _mm_set1_epi8((char)0xC2), xFE = _mm_set1_epi8((char)0xFE);
    __m128i wrong = _mm_setzero_si128();
    Py_ssize_t i = *at;
    for (; n - i >= 16; i += 16) {
        __m128i c = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i before = _mm_loadu_si128((const __m128i *)(p + i - 1));
        __m128i top = _mm_and_si128(c, xC0);
        __m128i lead = _mm_cmpeq_epi8(top, xC0);
        __m128i continuation = _mm_cmpeq_epi8(top, x80);
        __m128i after_lead = _mm_cmpeq_epi8(_mm_and_si128(before, xC0), xC0);
        __m128i other_lead = _mm_andnot_si128(_mm_cmpeq_epi8(_mm_and_si128(c, xFE), xC2), lead);
        wrong = _mm_or_si128(wrong, _mm_or_si128(other_lead, _mm_xor_si128(continuation, after_lead)));
        /* 16-bit shifts: the bits that cross into the next byte are masked off */
        __m128i add = _mm_and_si128(_mm_and_si128(_mm_srli_epi16(c, 1), _mm_slli_epi16(before, 6)), x40);
        __m128i values = _mm_add_epi8(c, add);
        unsigned keep = ~(unsigned)_mm_movemask_epi8(lead) & 0xFFFF, low = keep & 0xFF, high = keep >> 8;
        _mm_storel_epi64((__m128i *)o, _mm_shuffle_epi8(values, _mm_loadl_epi64((const __m128i *)pack_order[low])));
        o += pack_count[low];
        __m128i upper = _mm_srli_si128(values, 8);
        _mm_storel_epi64((__m128i *)o, _mm_shuffle_epi8(upper, _mm_loadl_epi64((const __m128i *)pack_order[high])));
        o += pack_count[high];
    }
    *bad |= (unsigned)_mm_movemask_epi8(wrong) != 0;
    *at = i;
    return o;
}
#endif

static PyObject *latin1_from_utf8(const unsigned char *p, Py_ssize_t n) {
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);  /* at most n bytes; cut to size */
    if (!out || n == 0) return out;
    unsigned char *start = (unsigned char *)PyBytes_AS_STRING(out), *o = start;
    /* the first byte is no continuation (nor a lead but C2, C3), the last no lead */
    unsigned bad = (p[0] >= 0x80 && (p[0] & 0xFE) != 0xC2) | (p[n - 1] >= 0xC0);
    Py_ssize_t i = 1;
    *o = p[0];
    o += p[0] < 0x80;
#ifdef HAVE_SHUFFLE
    /* each 8-byte store stays inside the n bytes: at most i bytes were kept before it */
    if (has_ssse3) o = pack_shuffled(p, &i, n, o, &bad);
#endif
    o = pack_bytes(p, i, n, o, &bad);
    if (bad) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_ValueError, "text outside latin-1");
        return NULL;
    }
    if (_PyBytes_Resize(&out, o - start) < 0) return NULL;
    return out;
}

static PyObject *payloads_next(Payloads *self) {
    if (self->next >= self->count) return NULL;
    Edit *e = &self->edits[self->next++];
    const char *at = (const char *)self->data.buf + e->pos + e->header;
    Py_ssize_t n = e->skip - e->header;
    if (e->code == P_STR) return PyUnicode_DecodeUTF8(at, n, "surrogatepass");
    if (e->code == P_LATIN1) return latin1_from_utf8((const unsigned char *)at, n);
    if (e->code == P_BYTEARRAY) return PyByteArray_FromStringAndSize(at, n);
    return PyBytes_FromStringAndSize(at, n);
}

static PyTypeObject PayloadsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "picklefence._fastcheck.Payloads",
    .tp_basicsize = sizeof(Payloads),
    .tp_dealloc = (destructor)payloads_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)payloads_next,
};

/* `data` up to `end` with the edits applied, in one FRAME so that the C unpickler reads
 * it from its file in one call, and the iterator of the payloads' objects. */
static PyObject *compile(State *s, Py_buffer *buf, Py_ssize_t end, PyObject **payloads) {
    const unsigned char *d = buf->buf;
    Py_ssize_t size = end, at = 0, n = 9, npayloads = 0;
    unsigned char spelled[8];
    size += 9;
    for (Py_ssize_t i = 0; i < s->nedits; i++) {
        Edit *e = &s->edits[i];
        size -= e->skip;
        size += e->code > 0 ? spell(e->code, spelled) : e->code < 0;
        npayloads += e->code < 0;
    }
    Payloads *it = PyObject_New(Payloads, &PayloadsType);
    if (!it) return NULL;
    it->edits = NULL;
    it->count = it->next = 0;
    if (PyObject_GetBuffer(buf->obj, &it->data, PyBUF_SIMPLE) < 0) {
        it->data.obj = NULL;
        Py_DECREF(it);
        return NULL;
    }
    if (npayloads && !(it->edits = PyMem_Malloc((size_t)npayloads * sizeof(Edit)))) {
        Py_DECREF(it);
        return PyErr_NoMemory();
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (!out) {
        Py_DECREF(it);
        return NULL;
    }
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    o[0] = 0x95;  /* FRAME */
    for (int i = 0; i < 8; i++) o[1 + i] = (unsigned char)((unsigned long long)(size - 9) >> (8 * i));
    for (Py_ssize_t i = 0; i < s->nedits; i++) {
        Edit *e = &s->edits[i];
        memcpy(o + n, d + at, (size_t)(e->pos - at));
        n += e->pos - at;
        at = e->pos + e->skip;
        if (e->code > 0) {
            n += spell(e->code, o + n);
        } else if (e->code < 0) {
            o[n++] = 0x97;  /* NEXT_BUFFER */
            it->edits[it->count++] = *e;
        }
    }
    memcpy(o + n, d + at, (size_t)(end - at));
    *payloads = (PyObject *)it;
    return out;
}

static void release(State *s) {
    PyMem_Free(s->tags);
    PyMem_Free(s->marks);
    PyMem_Free(s->memo);
    PyMem_Free(s->edits);
}

static PyObject *verify(PyObject *module, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t max_index, max_entries, max_marks, max_string;
    if (!PyArg_ParseTuple(args, "y*nnnn", &buf, &max_index, &max_entries, &max_marks, &max_string)) return NULL;
    const unsigned char *d = buf.buf;
    Py_ssize_t n = buf.len, pos = 0, frame_end = -1, limit = n, result = -1, proto = 0;  /* limit: frame or input end */
    int globals = 0;
    /* The match of protocol 2's bytes, `_codecs.encode(text, "latin1")`, lexically:
     * global [PUT] text [PUT] "latin1" [PUT] TUPLE2 [PUT] REDUCE.  `pat` is the step
     * reached (0: none), `was` the step before this opcode; the text's payload edit (or
     * -1) and the memo slots the text and the tuple were put in (or -1) are kept, since
     * fusing makes the text bytes: those slots then hold objects the original pickle
     * does not have, and reading them declines. */
    int pat = 0;
    Py_ssize_t pat_edit = -1, pat_text_put = -1, pat_tuple_put = -1;
    State s;
    memset(&s, 0, sizeof(s));
    if (max_index >= MEMO_CAP) max_index = MEMO_CAP - 1;

#define NEED(k) do { if ((k) < 0 || (k) > limit - pos) goto done; } while (0)
#define ARG(k, var) do { NEED(k); var = u_le(d + pos, (k)); pos += (k); if (var < 0) goto done; } while (0)
#define PAYLOAD(len) do { if ((len) > max_string) goto done; NEED(len); pos += (len); } while (0)
#define PUSH(t) do { unsigned char tag_ = (t);                                        \
                    if (s.len < s.cap) s.tags[s.len++] = tag_;                         \
                    else if (push(&s, tag_) < 0) goto oom; } while (0)
#define POP(k) do { if (level(&s) < (k)) goto done; s.len -= (k); } while (0)
#define EDIT(at, skip, code, header) do { if (edit(&s, (at), (skip), (code), (header)) < 0) goto oom; } while (0)
#define LINE() do { const unsigned char *nl = memchr(d + pos, '\n', (size_t)(limit - pos)); \
                    if (!nl) goto done;                                                  \
                    pos = nl - d + 1; } while (0)
#define TOP (s.tags[s.len - 1])

    for (;;) {
        if (pos == frame_end) frame_end = -1, limit = n;  /* the frame is used up */
        NEED(1);
        Py_ssize_t at = pos;  /* this opcode's offset */
        unsigned char op = d[pos++];
        Py_ssize_t v, k;
        int was = pat;
        pat = 0;
        switch (op) {
        case 0x80:                                                                  /* PROTO: first only */
            if (pos != 1) goto done;
            ARG(1, v);
            if (v > 5) goto done;
            proto = v;
            break;
        case 0x95:                                                                  /* FRAME */
            ARG(8, v);
            if (frame_end >= 0 && pos != frame_end) goto done;
            if (v > n - pos) goto done;
            frame_end = limit = pos + v;
            EDIT(at, 9, 0, 0);
            break;
        case '.':                                                                   /* STOP */
            if (s.nmarks || s.len < 1) goto done;
            result = pos;
            goto done;
        case 'c':                                                                   /* GLOBAL */
            LINE();
            LINE();
            globals = 1;
            if (pos - at == 16 && !memcmp(d + at + 1, "_codecs\nencode\n", 15)) {
                PUSH(T_ENCODE);
                pat = 1;
            } else {
                PUSH(T_OTHER);
            }
            break;
        case 0x93: POP(2); globals = 1; PUSH(T_OTHER); break;                      /* STACK_GLOBAL */
        case 'R':                                                                   /* REDUCE */
            POP(2);
            if (was == 4) {  /* _codecs.encode(text, "latin1") */
                EDIT(at, 1, C_LATIN1, 0);
                if (pat_edit >= 0) {
                    s.edits[pat_edit].code = P_LATIN1;
                    if (pat_text_put >= 0) s.memo[pat_text_put] = T_SPENT + 1;
                    if (pat_tuple_put >= 0) s.memo[pat_tuple_put] = T_SPENT + 1;
                }
            } else {
                EDIT(at, 1, C_REDUCE, 0);
            }
            PUSH(T_OTHER);
            break;
        case 'b': POP(2); EDIT(at, 1, C_BUILD, 0); PUSH(T_OTHER); break;
        case 0x81: POP(2); EDIT(at, 1, C_NEWOBJ, 0); PUSH(T_OTHER); break;
        case 0x92: POP(3); EDIT(at, 1, C_NEWOBJ_EX, 0); PUSH(T_OTHER); break;
        case '(':                                                                   /* MARK */
            if (s.nmarks >= max_marks) goto done;
            if (grow((void **)&s.marks, &s.marks_cap, s.nmarks + 1, sizeof(Py_ssize_t)) < 0) goto oom;
            s.marks[s.nmarks++] = s.len;
            break;
        case ']': PUSH(T_LIST); break;
        case '}': PUSH(T_DICT); break;
        case 0x8f: PUSH(T_SET); break;
        case ')': case 'N': case 0x88: case 0x89: PUSH(T_OTHER); break;
        case 'J': NEED(4); pos += 4; PUSH(T_OTHER); break;
        case 'K': NEED(1); pos += 1; PUSH(T_OTHER); break;
        case 'M': NEED(2); pos += 2; PUSH(T_OTHER); break;
        case 'G': NEED(8); pos += 8; PUSH(T_OTHER); break;
        case 0x8a: ARG(1, v); PAYLOAD(v); PUSH(T_OTHER); break;                   /* LONG1 */
        case 0x8b:                                                                  /* LONG4: signed length */
            NEED(4);
            if (d[pos + 3] & 0x80) goto done;
            ARG(4, v); PAYLOAD(v); PUSH(T_OTHER); break;
        case 0x8c: case 'C': case 'B': case 'X': case 0x8e: case 0x8d: case 0x96:  /* str, bytes, bytearray */
            ARG(op == 'C' || op == 0x8c ? 1 : op == 'B' || op == 'X' ? 4 : 8, v);
            PAYLOAD(v);
            k = op == 'X' || op == 0x8d || op == 0x8c;  /* str */
            if (v >= PAYLOAD_MIN && (globals || s.ncode))  /* plain data is not compiled */
                EDIT(at, pos - at, op == 0x96 ? P_BYTEARRAY : k ? P_STR : P_BYTES, (int)(pos - at - v));
            if (k && was == 1) {  /* the text to encode */
                pat = 2;
                pat_edit = s.nedits && s.edits[s.nedits - 1].pos == at ? s.nedits - 1 : -1;
                pat_text_put = -1;
            }
            if (k && v == 6 && !memcmp(d + pos - 6, "latin1", 6)) {
                if (was == 2) pat = 3;
                PUSH(T_LATIN1);
            } else {
                PUSH(T_OTHER);
            }
            break;
        case 0x94:                                                                  /* MEMOIZE */
            v = s.memo_count;
            goto put;
        case 'q': ARG(1, v); goto put;                                              /* BINPUT */
        case 'r': ARG(4, v); goto put;                                              /* LONG_BINPUT */
        put:
            if (level(&s) < 1 || v > max_index) goto done;
            if (grow((void **)&s.memo, &s.memo_cap, v + 1, 1) < 0) goto oom;
            if (!s.memo[v]) {
                if (s.memo_count >= max_entries) goto done;
                s.memo_count++;
            }
            s.memo[v] = (unsigned char)(TOP + 1);
            if (was == 1 || was == 3) pat = was;  /* the global or "latin1", kept in the memo */
            if (was == 2 && pat_text_put < 0) {
                pat = 2;
                pat_text_put = v;
            }
            if (was == 4 && pat_tuple_put < 0) {
                pat = 4;
                pat_tuple_put = v;
            }
            break;
        case 'h': ARG(1, v); goto get;                                              /* BINGET */
        case 'j': ARG(4, v); goto get;                                              /* LONG_BINGET */
        get:
            if (v >= s.memo_cap || !s.memo[v] || s.memo[v] == T_SPENT + 1) goto done;
            PUSH((unsigned char)(s.memo[v] - 1));
            if (TOP == T_ENCODE) pat = 1;
            if (TOP == T_LATIN1 && was == 2) pat = 3;
            break;
        case 'a':                                                                   /* APPEND */
            POP(1);
            if (level(&s) < 1) goto done;
            if (TOP != T_LIST) EDIT(at, 1, C_APPEND, 0);
            break;
        case 's':                                                                   /* SETITEM */
            POP(2);
            if (level(&s) < 1) goto done;
            if (TOP != T_DICT) EDIT(at, 1, C_SETITEM, 0);
            break;
        case 'e': case 'u': case 0x90:                                             /* APPENDS SETITEMS ADDITEMS */
            k = pop_mark(&s);
            if (k < 0 || level(&s) < 1 || (op == 'u' && k % 2)) goto done;
            if (op == 'e' && TOP != T_LIST) EDIT(at, 1, C_APPENDS, 0);
            if (op == 'u' && TOP != T_DICT) EDIT(at, 1, C_SETITEMS, 0);
            if (op == 0x90 && TOP != T_SET) EDIT(at, 1, C_ADDITEMS, 0);
            break;
        case 0x85: POP(1); PUSH(T_OTHER); break;                                   /* TUPLE1-3 */
        case 0x86: POP(2); PUSH(T_OTHER); if (was == 3) { pat = 4; pat_tuple_put = -1; } break;
        case 0x87: POP(3); PUSH(T_OTHER); break;
        case 't': case 0x91: if (pop_mark(&s) < 0) goto done; PUSH(T_OTHER); break; /* TUPLE FROZENSET */
        case 'l': if (pop_mark(&s) < 0) goto done; PUSH(T_LIST); break;           /* LIST */
        case 'd':                                                                   /* DICT */
            k = pop_mark(&s);
            if (k < 0 || k % 2) goto done;
            PUSH(T_DICT);
            break;
        case '0':                                                                   /* POP */
            if (level(&s) > 0) s.len--;
            else if (pop_mark(&s) < 0) goto done;
            break;
        case '1': if (pop_mark(&s) < 0) goto done; break;                          /* POP_MARK */
        case '2': if (level(&s) < 1) goto done; PUSH(TOP); break;                  /* DUP */
        default: goto done;  /* text opcodes, INST/OBJ, extension codes, persistent ids, buffers */
        }
    }

done:;
    PyObject *program = NULL, *payloads = NULL;
    if (result >= 0 && (s.ncode || globals) && !(program = compile(&s, &buf, result, &payloads))) {
        release(&s);
        PyBuffer_Release(&buf);
        return NULL;
    }
    release(&s);
    PyBuffer_Release(&buf);
    if (!program) {
        program = Py_NewRef(Py_None);
        payloads = Py_NewRef(Py_None);
    }
    return Py_BuildValue("(nnNN)", result, proto, program, payloads);
oom:
    release(&s);
    PyBuffer_Release(&buf);
    return PyErr_NoMemory();
}

/* For tests of the plain packing on machines that shuffle: whether to shuffle (where
 * SSSE3 is there); returns whether it did. */
static PyObject *use_shuffle(PyObject *module, PyObject *arg) {
    int on = PyObject_IsTrue(arg);
    if (on < 0) return NULL;
#ifdef HAVE_SHUFFLE
    int was = has_ssse3;
    has_ssse3 = on && __builtin_cpu_supports("ssse3");
    return PyBool_FromLong(was);
#else
    return PyBool_FromLong(0);
#endif
}

static PyMethodDef methods[] = {
    {"verify", verify, METH_VARARGS, "(end past STOP or -1, protocol, program or None, payloads)."},
    {"use_shuffle", use_shuffle, METH_O, "Whether to pack decoded latin-1 with SSSE3 shuffles; returns the old setting."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastcheck", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastcheck(void) {
    if (PyType_Ready(&PayloadsType) < 0) return NULL;
#ifdef HAVE_SHUFFLE
    init_shuffle();
#endif
    return PyModule_Create(&module);
}
