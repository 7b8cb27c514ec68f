/* The verifier of picklefence's fast path.
 *
 * verify(data, max_memo_index, max_memo_entries, max_mark_depth, max_string_bytes)
 * returns (end, protocol, globals): `end` is the offset just past STOP when `data`
 * starts with a well-formed pickle (no argument straddles a FRAME, no stack underflow,
 * item opcodes only on lists/dicts/sets the pickle built, memo reads of set slots,
 * within the limits) made of plain-data opcodes plus globals that are used only as the
 * callable of a REDUCE (never as a value, an argument, or a container item); otherwise
 * -1.  No BUILD, NEWOBJ, INST/OBJ, extension code, persistent id or buffer.  Python
 * then hands the C unpickler call-only proxies for those globals, which check the
 * policy's rule and arguments before calling.  `globals` says whether any was seen.
 * The walk is one pass over the bytes with a tag per stack slot and memo slot.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

enum { T_OTHER = 0, T_LIST = 1, T_DICT = 2, T_SET = 3, T_GLOBAL = 4 };
#define MEMO_CAP ((Py_ssize_t)1 << 24)

typedef struct {
    unsigned char *tags;  /* stack of tags */
    Py_ssize_t len, cap;
    Py_ssize_t *marks;    /* stack lengths at each MARK */
    Py_ssize_t nmarks, marks_cap;
    unsigned char *memo;  /* 0 = unset, else tag + 1 */
    Py_ssize_t memo_cap, memo_count;
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

/* Items above the current mark. */
static Py_ssize_t level(State *s) { return s->len - (s->nmarks ? s->marks[s->nmarks - 1] : 0); }

/* Whether any of the top k slots holds a global: globals may only be called. */
static int any_global(State *s, Py_ssize_t k) {
    for (Py_ssize_t i = s->len - k; i < s->len; i++)
        if (s->tags[i] == T_GLOBAL) return 1;
    return 0;
}

static Py_ssize_t pop_mark(State *s) {  /* number of items popped, or -1 (also for a global among them) */
    if (!s->nmarks) return -1;
    Py_ssize_t base = s->marks[--s->nmarks];
    Py_ssize_t n = s->len - base;
    if (any_global(s, n)) return -1;
    s->len = base;
    return n;
}

static Py_ssize_t u_le(const unsigned char *p, int n) {
    unsigned long long v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    if (v > (unsigned long long)PY_SSIZE_T_MAX) return -1;
    return (Py_ssize_t)v;
}

static PyObject *verify(PyObject *module, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t max_index, max_entries, max_marks, max_string;
    if (!PyArg_ParseTuple(args, "y*nnnn", &buf, &max_index, &max_entries, &max_marks, &max_string)) return NULL;
    const unsigned char *d = buf.buf;
    Py_ssize_t n = buf.len, pos = 0, frame_end = -1, result = -1, proto = 0;
    int globals = 0;
    State s;
    memset(&s, 0, sizeof(s));
    if (max_index >= MEMO_CAP) max_index = MEMO_CAP - 1;

#define LIMIT (frame_end >= 0 ? frame_end : n)
#define NEED(k) do { if ((k) < 0 || pos + (k) > LIMIT) goto done; } while (0)
#define ARG(k, var) do { NEED(k); var = u_le(d + pos, (k)); pos += (k); if (var < 0) goto done; } while (0)
#define PAYLOAD(len) do { if ((len) > max_string) goto done; NEED(len); pos += (len); } while (0)
#define PUSH(t) do { if (push(&s, (t)) < 0) goto oom; } while (0)
#define POP(k) do { if (level(&s) < (k) || any_global(&s, (k))) goto done; s.len -= (k); } while (0)
#define LINE() do { const unsigned char *nl = memchr(d + pos, '\n', (size_t)(LIMIT - pos)); \
                    if (!nl) goto done; pos = nl - d + 1; } while (0)
#define TOP (s.tags[s.len - 1])

    for (;;) {
        if (frame_end >= 0 && pos == frame_end) frame_end = -1;  /* the frame is used up */
        NEED(1);
        unsigned char op = d[pos++];
        Py_ssize_t v, k;
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
            frame_end = pos + v;
            break;
        case '.':                                                                   /* STOP */
            if (s.nmarks || s.len < 1 || TOP == T_GLOBAL) goto done;
            result = pos;
            goto done;
        case 'c':                                                                   /* GLOBAL */
            LINE();
            LINE();
            globals = 1;
            PUSH(T_GLOBAL);
            break;
        case 0x93: POP(2); globals = 1; PUSH(T_GLOBAL); break;                     /* STACK_GLOBAL */
        case 'R':                                                                   /* REDUCE */
            POP(1);
            if (level(&s) < 1 || TOP != T_GLOBAL) goto done;
            TOP = T_OTHER;
            break;
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
        case 0x8c: case 'C': ARG(1, v); PAYLOAD(v); PUSH(T_OTHER); break;       /* SHORT_BINUNICODE/BYTES */
        case 'X': case 'B': ARG(4, v); PAYLOAD(v); PUSH(T_OTHER); break;        /* BINUNICODE/BINBYTES */
        case 0x8d: case 0x8e: case 0x96: ARG(8, v); PAYLOAD(v); PUSH(T_OTHER); break;
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
            break;
        case 'h': ARG(1, v); goto get;                                              /* BINGET */
        case 'j': ARG(4, v); goto get;                                              /* LONG_BINGET */
        get:
            if (v >= s.memo_cap || !s.memo[v]) goto done;
            PUSH((unsigned char)(s.memo[v] - 1));
            break;
        case 'a': POP(1); if (level(&s) < 1 || TOP != T_LIST) goto done; break;   /* APPEND */
        case 's': POP(2); if (level(&s) < 1 || TOP != T_DICT) goto done; break;   /* SETITEM */
        case 'e': case 'u': case 0x90:                                             /* APPENDS SETITEMS ADDITEMS */
            k = pop_mark(&s);
            if (k < 0 || level(&s) < 1) goto done;
            if (op == 'e' && TOP != T_LIST) goto done;
            if (op == 'u' && (TOP != T_DICT || k % 2)) goto done;
            if (op == 0x90 && TOP != T_SET) goto done;
            break;
        case 0x85: POP(1); PUSH(T_OTHER); break;                                   /* TUPLE1-3 */
        case 0x86: POP(2); PUSH(T_OTHER); break;
        case 0x87: POP(3); PUSH(T_OTHER); break;
        case 't': case 0x91: if (pop_mark(&s) < 0) goto done; PUSH(T_OTHER); break; /* TUPLE FROZENSET */
        case 'l': if (pop_mark(&s) < 0) goto done; PUSH(T_LIST); break;           /* LIST */
        case 'd':                                                                   /* DICT */
            k = pop_mark(&s);
            if (k < 0 || k % 2) goto done;
            PUSH(T_DICT);
            break;
        case '0':                                                                   /* POP (a global too) */
            if (level(&s) > 0) s.len--;
            else if (pop_mark(&s) < 0) goto done;
            break;
        case '1': if (pop_mark(&s) < 0) goto done; break;                          /* POP_MARK */
        case '2': if (level(&s) < 1) goto done; PUSH(TOP); break;                  /* DUP */
        default: goto done;  /* anything that reaches globals, code, or text opcodes */
        }
    }

done:
    PyMem_Free(s.tags);
    PyMem_Free(s.marks);
    PyMem_Free(s.memo);
    PyBuffer_Release(&buf);
    return Py_BuildValue("(nni)", result, proto, globals);
oom:
    PyMem_Free(s.tags);
    PyMem_Free(s.marks);
    PyMem_Free(s.memo);
    PyBuffer_Release(&buf);
    return PyErr_NoMemory();
}

static PyMethodDef methods[] = {
    {"verify", verify, METH_VARARGS, "(end past STOP or -1, protocol, whether globals are called)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastcheck", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastcheck(void) { return PyModule_Create(&module); }
