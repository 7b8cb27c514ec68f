/* The verifier and compiler of picklefence's fast path.
 *
 * verify(data, max_memo_index, max_memo_entries, max_mark_depth, max_string_bytes)
 * returns (end, protocol, plain).  `end` is the offset just past STOP when `data` starts
 * with a well-formed pickle (no argument straddles a FRAME, no stack underflow, memo
 * reads of set slots, memo indices below the input's length, within the limits) that the
 * C unpickler can run with every operation that runs code handed back to Python;
 * otherwise -1 (no INST/OBJ, extension code, persistent id, buffer, text opcode or
 * unknown byte).  `plain` says the pickle has no global and runs no code: then `data`
 * itself may be handed to the C unpickler.
 *
 * Program(data, <the same limits>) is the pickle compiled for the C unpickler: a file
 * it reads (`read`) and the iterator of its out-of-band buffers at once.  It walks the
 * input again, verifying as it goes, and compiles it lazily into FRAMEs of about CHUNK
 * bytes, each when the C unpickler asks for it: REDUCE, BUILD, NEWOBJ, NEWOBJ_EX, and
 * item opcodes on anything but a list/dict/set this pickle built become a BINPERSID of
 * (operands..., code), so the C unpickler calls `persistent_load`, which runs the
 * strict engine's handler for that opcode; the input's FRAMEs are dropped (lengths
 * change); and each bytes/bytearray/str argument of at least PAYLOAD_MIN bytes becomes
 * NEXT_BUFFER, its object made from `data` when the C unpickler asks for it (protocol
 * 2's bytes, `_codecs.encode(text, "latin1")`, become a BINPERSID of their own, and
 * long text the bytes themselves).  The C unpickler then calls only find_class and
 * persistent_load: every global, call and change of an object goes through the strict
 * engine, in stream order.
 *
 * prepare(<the same arguments>) is verify's answer with the Program to run, for a pickle
 * in bytes of at most CHUNK bytes that is not plain: its one FRAME compiled by the walk
 * that verifies it (so a small load walks its input about once); otherwise None, and
 * the caller makes Program(...) to compile lazily.
 *
 * Every byte the compiled program holds is copied from the input before it is parsed,
 * and parsed from the copy: the input may be a mapped file that changes under the load,
 * and what the C unpickler runs is what was verified (an argument handed over as a
 * buffer is data, whatever its bytes are by then).
 *
 * Working memory: two bytes per stack item and one per memo slot (both fewer than the
 * input's bytes), 8 bytes per open MARK (at most max_mark_depth), one FRAME of the
 * program (CHUNK bytes and up to 512 more, or one opcode longer) and 24 bytes per buffer
 * in it, in arrays that double as they grow: at most 6 times the input, the MARKs and
 * 64 KiB.  A refusal in the first FRAME costs no more than that.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* The opcodes, named as in pickletools and _pickle.c. */
enum opcode {
    MARK = '(', STOP = '.', POP = '0', POP_MARK = '1', DUP = '2', FLOAT = 'F', INT = 'I', BININT = 'J',
    BININT1 = 'K', LONG = 'L', BININT2 = 'M', NONE = 'N', PERSID = 'P', BINPERSID = 'Q', REDUCE = 'R',
    STRING = 'S', BINSTRING = 'T', SHORT_BINSTRING = 'U', UNICODE = 'V', BINUNICODE = 'X', APPEND = 'a',
    BUILD = 'b', GLOBAL = 'c', DICT = 'd', EMPTY_DICT = '}', APPENDS = 'e', GET = 'g', BINGET = 'h', INST = 'i',
    LONG_BINGET = 'j', LIST = 'l', EMPTY_LIST = ']', OBJ = 'o', PUT = 'p', BINPUT = 'q', LONG_BINPUT = 'r',
    SETITEM = 's', TUPLE = 't', EMPTY_TUPLE = ')', SETITEMS = 'u', BINFLOAT = 'G',
    PROTO = 0x80, NEWOBJ = 0x81, EXT1 = 0x82, EXT2 = 0x83, EXT4 = 0x84, TUPLE1 = 0x85, TUPLE2 = 0x86,
    TUPLE3 = 0x87, NEWTRUE = 0x88, NEWFALSE = 0x89, LONG1 = 0x8a, LONG4 = 0x8b,
    BINBYTES = 'B', SHORT_BINBYTES = 'C',
    SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d, BINBYTES8 = 0x8e, EMPTY_SET = 0x8f, ADDITEMS = 0x90,
    FROZENSET = 0x91, NEWOBJ_EX = 0x92, STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95,
    BYTEARRAY8 = 0x96, NEXT_BUFFER = 0x97, READONLY_BUFFER = 0x98,
};

/* How an opcode's argument is spelled: a fixed number of bytes (1, 2, 4, 8), or as
 * pickletools numbers the rest: up to a newline, or a payload whose length is a 1-byte,
 * signed 4-byte, 4-byte or 8-byte prefix. */
enum { A_LINE = -1, A_LEN1 = -2, A_LEN4S = -3, A_LEN4 = -4, A_LEN8 = -5 };
/* Flags: the verifier runs the opcode; it pops to the topmost MARK first; it pushes a
 * MARK; its payload is a str / bytes / bytearray (handed over as a buffer when long);
 * it only pushes one item after a fixed-width argument, or a short str / bytes after a
 * 1- or 4-byte length; it memoizes the top of the stack (these are walked in a few
 * instructions each: most of a pickle's opcodes are these). */
enum { RUNS = 1, MARKED = 2, PUSHES_MARK = 4, IS_STR = 8, IS_BYTES = 16, IS_BYTEARRAY = 32, PLAIN = 64, SHORT = 128, MEMO = 256 };

/* What a stack or memo slot holds: a list, dict or set this pickle built (item opcodes
 * on it run natively), the global `_codecs.encode`, the text "latin1", a memo slot
 * whose object a fused encode changed (reading it declines), or anything else. */
enum { T_OTHER = 0, T_LIST = 1, T_DICT = 2, T_SET = 3, T_ENCODE = 4, T_LATIN1 = 5, T_SPENT = 6 };

typedef struct {
    const char *name;
    signed char arg;      /* bytes of the argument, or A_* */
    unsigned char pop;    /* stack items it pops (below the MARK, for MARKED ones) */
    unsigned char push;   /* stack items it pushes */
    unsigned short flags;
    unsigned char tag;    /* the T_* a PLAIN opcode pushes */
} OpInfo;

/* Checked against pickletools.opcodes by tests/test_fast_path.py. */
static const OpInfo OPS[256] = {
    [MARK] = {"MARK", 0, 0, 0, RUNS | PUSHES_MARK},
    [STOP] = {"STOP", 0, 1, 0, RUNS},
    [POP] = {"POP", 0, 1, 0, RUNS},
    [POP_MARK] = {"POP_MARK", 0, 0, 0, RUNS | MARKED},
    [DUP] = {"DUP", 0, 1, 2, RUNS},
    [FLOAT] = {"FLOAT", A_LINE, 0, 1, 0},
    [INT] = {"INT", A_LINE, 0, 1, 0},
    [BININT] = {"BININT", 4, 0, 1, RUNS | PLAIN, T_OTHER},
    [BININT1] = {"BININT1", 1, 0, 1, RUNS | PLAIN, T_OTHER},
    [LONG] = {"LONG", A_LINE, 0, 1, 0},
    [BININT2] = {"BININT2", 2, 0, 1, RUNS | PLAIN, T_OTHER},
    [NONE] = {"NONE", 0, 0, 1, RUNS | PLAIN, T_OTHER},
    [PERSID] = {"PERSID", A_LINE, 0, 1, 0},
    [BINPERSID] = {"BINPERSID", 0, 1, 1, 0},
    [REDUCE] = {"REDUCE", 0, 2, 1, RUNS},
    [STRING] = {"STRING", A_LINE, 0, 1, 0},
    [BINSTRING] = {"BINSTRING", A_LEN4S, 0, 1, 0},
    [SHORT_BINSTRING] = {"SHORT_BINSTRING", A_LEN1, 0, 1, 0},
    [UNICODE] = {"UNICODE", A_LINE, 0, 1, 0},
    [BINUNICODE] = {"BINUNICODE", A_LEN4, 0, 1, RUNS | IS_STR | SHORT},
    [APPEND] = {"APPEND", 0, 2, 1, RUNS},
    [BUILD] = {"BUILD", 0, 2, 1, RUNS},
    [GLOBAL] = {"GLOBAL", A_LINE, 0, 1, RUNS},
    [DICT] = {"DICT", 0, 0, 1, RUNS | MARKED},
    [EMPTY_DICT] = {"EMPTY_DICT", 0, 0, 1, RUNS | PLAIN, T_DICT},
    [APPENDS] = {"APPENDS", 0, 1, 1, RUNS | MARKED},
    [GET] = {"GET", A_LINE, 0, 1, 0},
    [BINGET] = {"BINGET", 1, 0, 1, RUNS},
    [INST] = {"INST", A_LINE, 0, 1, MARKED},
    [LONG_BINGET] = {"LONG_BINGET", 4, 0, 1, RUNS},
    [LIST] = {"LIST", 0, 0, 1, RUNS | MARKED},
    [EMPTY_LIST] = {"EMPTY_LIST", 0, 0, 1, RUNS | PLAIN, T_LIST},
    [OBJ] = {"OBJ", 0, 1, 1, MARKED},
    [PUT] = {"PUT", A_LINE, 0, 0, 0},
    [BINPUT] = {"BINPUT", 1, 0, 0, RUNS | MEMO},
    [LONG_BINPUT] = {"LONG_BINPUT", 4, 0, 0, RUNS | MEMO},
    [SETITEM] = {"SETITEM", 0, 3, 1, RUNS},
    [TUPLE] = {"TUPLE", 0, 0, 1, RUNS | MARKED},
    [EMPTY_TUPLE] = {"EMPTY_TUPLE", 0, 0, 1, RUNS | PLAIN, T_OTHER},
    [SETITEMS] = {"SETITEMS", 0, 1, 1, RUNS | MARKED},
    [BINFLOAT] = {"BINFLOAT", 8, 0, 1, RUNS | PLAIN, T_OTHER},
    [PROTO] = {"PROTO", 1, 0, 0, RUNS},
    [NEWOBJ] = {"NEWOBJ", 0, 2, 1, RUNS},
    [EXT1] = {"EXT1", 1, 0, 1, 0},
    [EXT2] = {"EXT2", 2, 0, 1, 0},
    [EXT4] = {"EXT4", 4, 0, 1, 0},
    [TUPLE1] = {"TUPLE1", 0, 1, 1, RUNS},
    [TUPLE2] = {"TUPLE2", 0, 2, 1, RUNS},
    [TUPLE3] = {"TUPLE3", 0, 3, 1, RUNS},
    [NEWTRUE] = {"NEWTRUE", 0, 0, 1, RUNS | PLAIN, T_OTHER},
    [NEWFALSE] = {"NEWFALSE", 0, 0, 1, RUNS | PLAIN, T_OTHER},
    [LONG1] = {"LONG1", A_LEN1, 0, 1, RUNS},
    [LONG4] = {"LONG4", A_LEN4S, 0, 1, RUNS},
    [BINBYTES] = {"BINBYTES", A_LEN4, 0, 1, RUNS | IS_BYTES | SHORT},
    [SHORT_BINBYTES] = {"SHORT_BINBYTES", A_LEN1, 0, 1, RUNS | IS_BYTES | SHORT},
    [SHORT_BINUNICODE] = {"SHORT_BINUNICODE", A_LEN1, 0, 1, RUNS | IS_STR | SHORT},
    [BINUNICODE8] = {"BINUNICODE8", A_LEN8, 0, 1, RUNS | IS_STR},
    [BINBYTES8] = {"BINBYTES8", A_LEN8, 0, 1, RUNS | IS_BYTES},
    [EMPTY_SET] = {"EMPTY_SET", 0, 0, 1, RUNS | PLAIN, T_SET},
    [ADDITEMS] = {"ADDITEMS", 0, 1, 1, RUNS | MARKED},
    [FROZENSET] = {"FROZENSET", 0, 0, 1, RUNS | MARKED},
    [NEWOBJ_EX] = {"NEWOBJ_EX", 0, 3, 1, RUNS},
    [STACK_GLOBAL] = {"STACK_GLOBAL", 0, 2, 1, RUNS},
    [MEMOIZE] = {"MEMOIZE", 0, 1, 1, RUNS | MEMO},
    [FRAME] = {"FRAME", 8, 0, 0, RUNS},
    [BYTEARRAY8] = {"BYTEARRAY8", A_LEN8, 0, 1, RUNS | IS_BYTEARRAY},
    [NEXT_BUFFER] = {"NEXT_BUFFER", 0, 0, 1, 0},
    [READONLY_BUFFER] = {"READONLY_BUFFER", 0, 1, 1, 0},
};

/* The compiled operations, by the code their BINPERSID carries (exported to Python). */
enum { C_REDUCE = 1, C_BUILD, C_NEWOBJ, C_NEWOBJ_EX, C_APPEND, C_APPENDS, C_SETITEM, C_SETITEMS, C_ADDITEMS, C_LATIN1 };
/* Arguments handed over as out-of-band buffers; P_LATIN1 is a str argument of
 * `_codecs.encode(text, "latin1")` made directly into the bytes that call returns. */
enum { P_BYTES = 1, P_BYTEARRAY, P_STR, P_LATIN1 };
/* Shorter arguments stay in the program: their objects outweigh their bytes there. */
#define PAYLOAD_MIN 32
/* The program's FRAMEs: big enough that the C unpickler's reads cost nothing, small
 * enough that a refusal early in a large pickle compiles little of it. */
#define CHUNK ((Py_ssize_t)64 << 10)

/* The protocol 2 spelling of bytes, `_codecs.encode(text, "latin1")`, matched
 * lexically: ENCODE text LATIN1 TUPLE2 REDUCE, where ENCODE is the GLOBAL (or a memo
 * read of it), and each of the four may be memoized once.  Fusing makes the text's
 * object the bytes: the memo slots the text and the tuple were put in then hold objects
 * the original pickle does not have, so reading them declines. */
typedef enum { F_NONE, F_ENCODE, F_TEXT, F_LATIN1, F_TUPLE } FusionState;

typedef struct {
    FusionState state;
    int put;                 /* the element just matched was memoized */
    int text_long;           /* the text is handed over as a buffer */
    Py_ssize_t text_buffer;  /* its index in the FRAME's buffers (when compiling), or -1 */
    Py_ssize_t text_slot, tuple_slot;  /* memo slots of the text and the tuple, or -1 */
} Fusion;

/* What the opcode just walked was, for the matcher. */
typedef enum { E_OTHER, E_ENCODE, E_TEXT, E_LATIN1, E_TUPLE2, E_PUT, E_REDUCE } Element;

/* The next state after `e`; returns 1 when `e` completes the match (a REDUCE). */
static inline int fusion_step(Fusion *f, Element e, Py_ssize_t slot, int text_long, Py_ssize_t text_buffer) {
    if (e == E_PUT) {
        if (f->state == F_NONE || f->put) {
            f->state = F_NONE;
            return 0;
        }
        f->put = 1;
        if (f->state == F_TEXT) f->text_slot = slot;
        if (f->state == F_TUPLE) f->tuple_slot = slot;
        return 0;
    }
    FusionState was = f->state;
    f->state = F_NONE;
    f->put = 0;
    switch (e) {
    case E_ENCODE:
        f->state = F_ENCODE;
        break;
    case E_TEXT:
    case E_LATIN1:  /* "latin1" may be the text itself */
        if (was == F_ENCODE) {
            f->state = F_TEXT;
            f->text_long = text_long;
            f->text_buffer = text_buffer;
            f->text_slot = f->tuple_slot = -1;
        } else if (was == F_TEXT && e == E_LATIN1) {
            f->state = F_LATIN1;
        }
        break;
    case E_TUPLE2:
        if (was == F_LATIN1) f->state = F_TUPLE;
        break;
    case E_REDUCE:
        return was == F_TUPLE;
    default:
        break;
    }
    return 0;
}

/* A stack item's tag: not a char type, whose stores the compiler must assume change
 * every other field of the walk (that made the verifier several times slower). */
typedef unsigned short Tag;

/* An argument handed over as an out-of-band buffer. */
typedef struct {
    Py_ssize_t pos, len;  /* where its bytes are in the input */
    int kind;             /* P_* */
} Buffer;

typedef struct {
    const unsigned char *d;
    Py_ssize_t n, pos, limit, frame_end;  /* limit: the FRAME's end or the input's */
    Py_ssize_t max_index, max_entries, max_marks, max_string;
    Py_ssize_t end;                       /* past STOP once reached, else -1 */
    int proto, globals;
    Py_ssize_t ncode;                     /* compiled operations */
    Tag *tags;                            /* stack of tags */
    Py_ssize_t len, cap;
    Py_ssize_t *marks;                    /* stack lengths at each MARK */
    Py_ssize_t nmarks, marks_cap;
    unsigned char *memo;                  /* 0 = unset, else tag + 1 */
    Py_ssize_t memo_cap, memo_count;
    Fusion fusion;
    /* compiling (out is NULL while only verifying) */
    int compiling;
    unsigned char *out;
    Py_ssize_t olen, ocap;
    Buffer *buffers;                      /* of the current FRAME */
    Py_ssize_t nbuffers, buffers_cap;
} Walk;

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

static void walk_init(Walk *w, const unsigned char *d, Py_ssize_t n, Py_ssize_t max_index, Py_ssize_t max_entries,
                      Py_ssize_t max_marks, Py_ssize_t max_string, int compiling) {
    memset(w, 0, sizeof(*w));
    w->d = d;
    w->n = w->limit = n;
    w->frame_end = w->end = -1;
    /* a pickle of n bytes fills fewer than n memo slots: a larger index only makes the
     * C unpickler's memo table large */
    w->max_index = max_index < n ? max_index : n - 1;
    w->max_entries = max_entries;
    w->max_marks = max_marks;
    w->max_string = max_string;
    w->compiling = compiling;
}

static void walk_release(Walk *w) {
    PyMem_Free(w->tags);
    PyMem_Free(w->marks);
    PyMem_Free(w->memo);
    PyMem_Free(w->out);
    PyMem_Free(w->buffers);
}

static Py_ssize_t u_le(const unsigned char *p, int n) {
    unsigned long long v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    if (v > (unsigned long long)PY_SSIZE_T_MAX) return -1;
    return (Py_ssize_t)v;
}

/* Walking one opcode ends in one of these. */
enum { W_NEXT = 0, W_STOP = 1, W_DECLINE = -1, W_NOMEM = -2 };

/* The next k input bytes, consumed: copied to the program first when compiling, so
 * that they are parsed from the copy; NULL if fewer are left in the FRAME (or no memory:
 * *nomem is set). */
#define INLINE static inline __attribute__((always_inline))
INLINE const unsigned char *take(Walk *w, Py_ssize_t k, int *nomem) {
    if (k < 0 || k > w->limit - w->pos) return NULL;
    const unsigned char *p = w->d + w->pos;
    w->pos += k;
    if (!w->compiling) return p;
    if (grow((void **)&w->out, &w->ocap, w->olen + k, 1) < 0) {
        *nomem = 1;
        return NULL;
    }
    unsigned char *copy = w->out + w->olen;
    memcpy(copy, p, (size_t)k);
    w->olen += k;
    return copy;
}

/* The bytes a compiled operation becomes: its operands (and the code) as one tuple,
 * then BINPERSID.  SETITEM pairs its key and value; the mark-taking ones collect the
 * items into a list; NEWOBJ_EX nests its three operands. */
static Py_ssize_t spell(int code, unsigned char *out) {
    Py_ssize_t n = 0;
    if (code == C_SETITEM) out[n++] = TUPLE2;
    if (code == C_APPENDS || code == C_SETITEMS || code == C_ADDITEMS) out[n++] = LIST;
    if (code == C_NEWOBJ_EX) out[n++] = TUPLE3;
    out[n++] = BININT1;
    out[n++] = (unsigned char)code;
    out[n++] = code == C_NEWOBJ_EX ? TUPLE2 : TUPLE3;
    out[n++] = BINPERSID;
    return n;
}
#define SPELL_MAX 5

/* The opcode at `start` in the program (when compiling) becomes a compiled operation. */
static int compiled(Walk *w, Py_ssize_t start, int code) {
    w->ncode++;
    if (!w->compiling) return 0;
    if (grow((void **)&w->out, &w->ocap, start + SPELL_MAX, 1) < 0) return -1;
    w->olen = start + spell(code, w->out + start);
    assert(w->olen - start <= SPELL_MAX);
    return 0;
}

INLINE Py_ssize_t level(Walk *w) { return w->len - (w->nmarks ? w->marks[w->nmarks - 1] : 0); }

/* Walk the PLAIN and SHORT opcodes from w->pos on, in a loop of a few instructions
 * each: most of a pickle's opcodes are these.  When compiling, a block of the input is
 * copied first and the run parsed from the copy.  W_NONE: the opcode at w->pos is for
 * step itself (e.g. a str long enough to be handed over, or an argument past the
 * FRAME). */
enum { W_NONE = -3 };
static int plain_run(Walk *w) {
    Py_ssize_t avail = w->limit - w->pos, i = 0, len = w->len;
    const unsigned char *q = w->d + w->pos;
    if (w->compiling) {
        if (avail > 512) avail = 512;
        if (grow((void **)&w->out, &w->ocap, w->olen + avail, 1) < 0) return W_NOMEM;
        memcpy(w->out + w->olen, q, (size_t)avail);
        q = w->out + w->olen;
    }
    Py_ssize_t longest = w->max_string < PAYLOAD_MIN - 1 ? w->max_string : PAYLOAD_MIN - 1;
    Py_ssize_t base = w->nmarks ? w->marks[w->nmarks - 1] : 0;  /* (no MARK in a run) */
    for (;;) {
        if (len >= w->cap && grow((void **)&w->tags, &w->cap, len + 64, sizeof(Tag)) < 0) return W_NOMEM;
        Tag *tags = w->tags;
        Py_ssize_t room = w->cap;
        while (i < avail && len < room) {
            const OpInfo *info = &OPS[q[i]];
            if (info->flags & PLAIN) {
                if (info->arg >= avail - i) goto done;
                tags[len++] = info->tag;
                /* a predicted branch, not `i += 1 + info->arg`: the next opcode's offset
                 * then needs no load of this one's table entry (3x faster) */
                switch (info->arg) {
                case 0: i += 1; break;
                case 1: i += 2; break;
                case 2: i += 3; break;
                case 4: i += 5; break;
                default: i += 9; break;
                }
            } else if (info->flags & SHORT) {
                int width = info->arg == A_LEN1 ? 1 : 4;
                if (width + 1 > avail - i) goto done;
                Py_ssize_t v = width == 1 ? q[i + 1] : u_le(q + i + 1, 4);
                if (v < 0 || v > longest || 1 + width + v > avail - i) goto done;
                const unsigned char *text = q + i + 1 + width;
                tags[len++] = info->flags & IS_STR && v == 6 && !memcmp(text, "latin1", 6) ? T_LATIN1 : T_OTHER;
                i += 1 + width + v;
            } else if (info->flags & MEMO) {  /* (refusals and growing the memo: step) */
                if (info->arg >= avail - i || len <= base) goto done;
                Py_ssize_t v = info->arg ? u_le(q + i + 1, info->arg) : w->memo_count;
                if (v < 0 || v > w->max_index || v >= w->memo_cap) goto done;
                if (!w->memo[v]) {
                    if (w->memo_count >= w->max_entries) goto done;
                    w->memo_count++;
                }
                w->memo[v] = (unsigned char)(tags[len - 1] + 1);
                i += 1 + info->arg;
            } else {
                goto done;
            }
        }
        if (i >= avail) break;
    }
done:
    w->len = len;
    w->pos += i;
    if (w->compiling) w->olen += i;
    return i ? W_NEXT : W_NONE;
}

/* Walk the opcode at w->pos: verify it, update the stack and memo tags, and (when
 * compiling) append what it becomes to the program. */
INLINE int step(Walk *w) {
    int nomem = 0;
    const unsigned char *p;
    Py_ssize_t start = w->olen;  /* where this opcode starts in the program */
    Py_ssize_t v = 0, slot = -1, buffer = -1;
    Element element = E_OTHER;
    int text_long = 0;
    unsigned char first = T_OTHER, tag = T_OTHER;

#define TAKE(k) do { if (!(p = take(w, (k), &nomem))) return nomem ? W_NOMEM : W_DECLINE; } while (0)

    if (w->pos == w->frame_end) w->frame_end = -1, w->limit = w->n;  /* the frame is used up */
    if (w->pos < w->limit && OPS[w->d[w->pos]].flags & (PLAIN | SHORT | MEMO) && w->fusion.state == F_NONE) {
        int r = plain_run(w);
        if (r != W_NONE) return r;
    }
    Py_ssize_t at = w->pos;  /* where this opcode starts in the input */
    TAKE(1);
    unsigned char op = p[0];
    const OpInfo *info = &OPS[op];
    if (!(info->flags & RUNS)) return W_DECLINE;  /* text opcodes, INST/OBJ, extension codes, persistent ids, buffers */

    /* the argument */
    /* (if, not switch: an indirect jump per opcode more made the verifier much slower) */
    if (info->arg > 0) {
        TAKE(info->arg);
        v = u_le(p, info->arg);
    } else if (info->arg == A_LINE) {  /* GLOBAL: module and name lines; the copy must hold exactly them */
        for (int line = 0; line < 2; line++) {
            const unsigned char *nl = memchr(w->d + w->pos, '\n', (size_t)(w->limit - w->pos));
            if (!nl) return W_DECLINE;
            Py_ssize_t k = nl - (w->d + w->pos) + 1;
            TAKE(k);
            if (memchr(p, '\n', (size_t)k) != p + k - 1) return W_DECLINE;
        }
    } else if (info->arg < 0) {  /* a payload after its length */
        int width = info->arg == A_LEN1 ? 1 : info->arg == A_LEN8 ? 8 : 4;
        TAKE(width);
        if (info->arg == A_LEN4S && (p[3] & 0x80)) return W_DECLINE;  /* a negative length */
        v = u_le(p, width);
        if (v < 0 || v > w->max_string || v > w->limit - w->pos) return W_DECLINE;
        int kind = info->flags & IS_STR ? P_STR : info->flags & IS_BYTES ? P_BYTES : info->flags & IS_BYTEARRAY ? P_BYTEARRAY : 0;
        text_long = kind && v >= PAYLOAD_MIN;
        if (text_long && w->compiling) {  /* handed over as a buffer */
            if (grow((void **)&w->buffers, &w->buffers_cap, w->nbuffers + 1, sizeof(Buffer)) < 0) return W_NOMEM;
            buffer = w->nbuffers;
            w->buffers[w->nbuffers++] = (Buffer){w->pos, v, kind};
            w->pos += v;
            w->out[start] = NEXT_BUFFER;
            w->olen = start + 1;
        } else {
            TAKE(v);
        }
        if (info->flags & IS_STR) element = v == 6 && !text_long && !memcmp(p, "latin1", 6) ? E_LATIN1 : E_TEXT;
    }

    /* the stack effect, from the table */
    if (info->flags & MARKED) {
        if (!w->nmarks) return W_DECLINE;
        Py_ssize_t items = w->len - w->marks[--w->nmarks];
        if ((op == SETITEMS || op == DICT) && items % 2) return W_DECLINE;
        w->len -= items;
    }
    if (op == POP && level(w) == 0) {  /* POP of a MARK, as the C unpickler does it */
        if (!w->nmarks) return W_DECLINE;
        w->nmarks--;
        return W_NEXT;
    }
    if (info->pop) {
        if (level(w) < info->pop) return W_DECLINE;
        first = w->tags[w->len - info->pop];
        w->len -= info->pop;
    }

    /* what the opcode does beyond that */
    switch (op) {
    case PROTO:
        if (w->pos != 2 || v > 5) return W_DECLINE;  /* first only */
        w->proto = (int)v;
        break;
    case FRAME:
        if (v < 0 || (w->frame_end >= 0 && w->pos != w->frame_end) || v > w->n - w->pos) return W_DECLINE;
        w->frame_end = w->limit = w->pos + v;
        w->olen = start;  /* dropped: the program is framed anew */
        break;
    case STOP:
        if (w->nmarks) return W_DECLINE;
        w->end = w->pos;
        return W_STOP;
    case GLOBAL: {
        const unsigned char *spelled = w->compiling ? w->out + start : w->d + at;  /* the copy, when compiling */
        w->globals = 1;
        if (w->pos - at == 16 && !memcmp(spelled + 1, "_codecs\nencode\n", 15)) element = E_ENCODE;
        break;
    }
    case STACK_GLOBAL:
        w->globals = 1;
        break;
    case REDUCE:
        element = E_REDUCE;
        break;
    case BUILD:
        if (compiled(w, start, C_BUILD) < 0) return W_NOMEM;
        break;
    case NEWOBJ:
        if (compiled(w, start, C_NEWOBJ) < 0) return W_NOMEM;
        break;
    case NEWOBJ_EX:
        if (compiled(w, start, C_NEWOBJ_EX) < 0) return W_NOMEM;
        break;
    case MARK:
        if (w->nmarks >= w->max_marks) return W_DECLINE;
        if (grow((void **)&w->marks, &w->marks_cap, w->nmarks + 1, sizeof(Py_ssize_t)) < 0) return W_NOMEM;
        w->marks[w->nmarks++] = w->len;
        break;
    case EMPTY_LIST: case LIST: tag = T_LIST; break;
    case EMPTY_DICT: case DICT: tag = T_DICT; break;
    case EMPTY_SET: tag = T_SET; break;
    case DUP: case TUPLE2: tag = op == DUP ? first : T_OTHER; element = op == TUPLE2 ? E_TUPLE2 : E_OTHER; break;
    case MEMOIZE: v = w->memo_count; /* fall through */
    case BINPUT: case LONG_BINPUT:
        if (v < 0 || v > w->max_index) return W_DECLINE;
        if (op != MEMOIZE) {  /* (as pickletools has it: MEMOIZE pops and pushes, the PUTs only look) */
            if (level(w) < 1) return W_DECLINE;
            first = w->tags[w->len - 1];
        }
        tag = first;
        if (grow((void **)&w->memo, &w->memo_cap, v + 1, 1) < 0) return W_NOMEM;
        if (!w->memo[v]) {
            if (w->memo_count >= w->max_entries) return W_DECLINE;
            w->memo_count++;
        }
        w->memo[v] = (unsigned char)(first + 1);
        element = E_PUT;
        slot = v;
        break;
    case BINGET: case LONG_BINGET:
        if (v < 0 || v >= w->memo_cap || !w->memo[v] || w->memo[v] == T_SPENT + 1) return W_DECLINE;
        tag = (unsigned char)(w->memo[v] - 1);
        element = tag == T_ENCODE ? E_ENCODE : tag == T_LATIN1 ? E_LATIN1 : E_OTHER;
        break;
    case APPEND:
        tag = first;
        if (first != T_LIST && compiled(w, start, C_APPEND) < 0) return W_NOMEM;
        break;
    case SETITEM:
        tag = first;
        if (first != T_DICT && compiled(w, start, C_SETITEM) < 0) return W_NOMEM;
        break;
    case APPENDS:
        tag = first;
        if (first != T_LIST && compiled(w, start, C_APPENDS) < 0) return W_NOMEM;
        break;
    case SETITEMS:
        tag = first;
        if (first != T_DICT && compiled(w, start, C_SETITEMS) < 0) return W_NOMEM;
        break;
    case ADDITEMS:
        tag = first;
        if (first != T_SET && compiled(w, start, C_ADDITEMS) < 0) return W_NOMEM;
        break;
    default:
        break;
    }
    if (element == E_LATIN1 && OPS[op].flags & IS_STR) tag = T_LATIN1;
    if (element == E_ENCODE) tag = T_ENCODE;

    if ((element != E_OTHER || w->fusion.state != F_NONE) && fusion_step(&w->fusion, element, slot, text_long, buffer)) {  /* _codecs.encode(text, "latin1") */
        Fusion *f = &w->fusion;
        if (compiled(w, start, C_LATIN1) < 0) return W_NOMEM;
        if (f->text_long) {
            if (f->text_buffer >= 0) w->buffers[f->text_buffer].kind = P_LATIN1;
            if (f->text_slot >= 0) w->memo[f->text_slot] = T_SPENT + 1;
            if (f->tuple_slot >= 0) w->memo[f->tuple_slot] = T_SPENT + 1;
        }
    } else if (op == REDUCE && compiled(w, start, C_REDUCE) < 0) {
        return W_NOMEM;
    }

    for (int i = 0; i < info->push; i++) {
        if (w->len >= w->cap && grow((void **)&w->tags, &w->cap, w->len + 1, sizeof(Tag)) < 0) return W_NOMEM;
        w->tags[w->len++] = tag;
    }
    return W_NEXT;
#undef TAKE
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


/* -- verify ------------------------------------------------------------------------- */

/* verify's and Program's arguments, (data, max_memo_index, max_memo_entries,
 * max_mark_depth, max_string_bytes), parsed by hand: a small load pays for both, and
 * PyArg_ParseTuple's format interpreter costs more than the walk of a small pickle.
 * Fills `buf` (to release) only on success. */
static int parse_settings(PyObject *const *args, Py_ssize_t nargs, Py_buffer *buf, Py_ssize_t limits[4]) {
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "expected 5 arguments (data and four limits), got %zd", nargs);
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        if (!PyLong_Check(args[i + 1])) {
            PyErr_Format(PyExc_TypeError, "a limit must be int, not %.100s", Py_TYPE(args[i + 1])->tp_name);
            return -1;
        }
        limits[i] = PyLong_AsSsize_t(args[i + 1]);
        if (limits[i] == -1 && PyErr_Occurred()) return -1;
    }
    return PyObject_GetBuffer(args[0], buf, PyBUF_SIMPLE);
}

/* The verifying walk of `buf`, with its answer: W_STOP (end past it), W_DECLINE (end
 * -1), W_NOMEM, or, where `early`, W_NEXT at the first global or compiled operation. */
typedef struct {
    Py_ssize_t end;
    int proto, plain;
} Answer;

static int verify_walk(const Py_buffer *buf, const Py_ssize_t limits[4], int early, Answer *a) {
    Walk w;
    walk_init(&w, buf->buf, buf->len, limits[0], limits[1], limits[2], limits[3], 0);
    int r;
    while ((r = step(&w)) == W_NEXT) {
        if (early && (w.globals || w.ncode)) break;
    }
    walk_release(&w);
    a->end = r == W_STOP ? w.end : -1;
    a->proto = w.proto;
    a->plain = !w.globals && !w.ncode;
    return r;
}

/* verify's tuple, or prepare's with `program` (a reference it takes). */
static PyObject *answer(int r, const Answer *a, PyObject *program) {
    if (r == W_NOMEM) {
        Py_XDECREF(program);
        return PyErr_NoMemory();
    }
    if (!program) return Py_BuildValue("(niN)", a->end, a->proto, PyBool_FromLong(a->plain));
    return Py_BuildValue("(niNN)", a->end, a->proto, PyBool_FromLong(a->plain), program);
}

static PyObject *verify(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer buf;
    Py_ssize_t limits[4];
    Answer a;
    if (parse_settings(args, nargs, &buf, limits) < 0) return NULL;
    int r = verify_walk(&buf, limits, 0, &a);
    PyBuffer_Release(&buf);
    return answer(r, &a, NULL);
}

/* -- the compiled program ----------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    Py_buffer data;
    Walk w;          /* compiling; w.out holds the current FRAME */
    Py_ssize_t read; /* how much of it was read */
    Py_ssize_t next; /* the next of its buffers to hand out */
    int ready;       /* w was initialized */
} Program;

static void program_dealloc(Program *self) {
    if (self->ready) {
        walk_release(&self->w);
        PyBuffer_Release(&self->data);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *program_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    Py_ssize_t limits[4];
    if (kwargs && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "Program() takes no keyword arguments");
        return NULL;
    }
    Program *self = (Program *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    if (parse_settings(&PyTuple_GET_ITEM(args, 0), PyTuple_GET_SIZE(args), &self->data, limits) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    walk_init(&self->w, self->data.buf, self->data.len, limits[0], limits[1], limits[2], limits[3], 1);
    self->ready = 1;
    return (PyObject *)self;
}

/* Compile the next FRAME into w.out: up to about CHUNK bytes, never inside a match of
 * the fused encode (its text's buffer is in the same FRAME).  W_STOP when the pickle's
 * STOP is in it, W_NEXT when more FRAMEs follow, else what stopped the walk. */
static int compile_steps(Program *self) {
    Walk *w = &self->w;
    w->nbuffers = self->next = self->read = 0;
    w->olen = 9;
    if (grow((void **)&w->out, &w->ocap, w->olen, 1) < 0) return W_NOMEM;
    int r;
    while ((r = step(w)) == W_NEXT) {
        if (w->olen >= CHUNK && w->fusion.state == F_NONE) break;
    }
    if (r == W_NEXT || r == W_STOP) {
        w->out[0] = FRAME;
        for (int i = 0; i < 8; i++) w->out[1 + i] = (unsigned char)((unsigned long long)(w->olen - 9) >> (8 * i));
    }
    return r;
}

static int compile_frame(Program *self) {
    if (self->next != self->w.nbuffers) {
        PyErr_SetString(PyExc_RuntimeError, "a FRAME read before its buffers were");
        return -1;
    }
    int r = compile_steps(self);
    if (r == W_NOMEM) {
        PyErr_NoMemory();
        return -1;
    }
    if (r == W_DECLINE) {  /* the input changed since it was verified */
        PyErr_SetString(PyExc_ValueError, "the input is not the pickle that was verified");
        return -1;
    }
    return 0;
}

/* The C unpickler reads a FRAME's opcode, its length, then its contents. */
static PyObject *program_read(Program *self, PyObject *arg) {
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred()) return NULL;
    Walk *w = &self->w;
    if (self->read == w->olen) {
        if (w->end >= 0) return PyBytes_FromStringAndSize(NULL, 0);
        if (compile_frame(self) < 0) return NULL;
    }
    Py_ssize_t left = w->olen - self->read;
    if (n < 0 || n > left) n = left;
    PyObject *out = PyBytes_FromStringAndSize((const char *)w->out + self->read, n);
    if (out) self->read += n;
    return out;
}

static PyObject *program_readline(Program *self, PyObject *unused) {
    PyErr_SetString(PyExc_ValueError, "a compiled program has no lines");
    return NULL;
}

static PyObject *program_end(Program *self, void *unused) { return PyLong_FromSsize_t(self->w.end); }

static PyObject *program_next(Program *self) {
    Walk *w = &self->w;
    if (self->next >= w->nbuffers) return NULL;
    Buffer *b = &w->buffers[self->next++];
    const char *at = (const char *)w->d + b->pos;
    switch (b->kind) {
    case P_STR: return PyUnicode_DecodeUTF8(at, b->len, "surrogatepass");
    case P_LATIN1: return latin1_from_utf8((const unsigned char *)at, b->len);
    case P_BYTEARRAY: return PyByteArray_FromStringAndSize(at, b->len);
    default: return PyBytes_FromStringAndSize(at, b->len);
    }
}

static PyMethodDef program_methods[] = {
    {"read", (PyCFunction)program_read, METH_O, "The next n bytes of the program (compiled as they are asked for)."},
    {"readline", (PyCFunction)program_readline, METH_NOARGS, "Never needed: the program has no text opcodes."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef program_getset[] = {
    {"end", (getter)program_end, NULL, "The input's offset just past STOP once compiled, else -1.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ProgramType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "picklefence._fastcheck.Program",
    .tp_basicsize = sizeof(Program),
    .tp_dealloc = (destructor)program_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Program(data, max_memo_index, max_memo_entries, max_mark_depth, max_string_bytes): "
              "the pickle compiled for the C unpickler, as its file and its buffers.",
    .tp_new = program_new,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)program_next,
    .tp_methods = program_methods,
    .tp_getset = program_getset,
};

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

/* prepare(<verify's arguments>) -> (end, protocol, plain, program or None): verify's
 * answer, and for a pickle in bytes of at most CHUNK bytes that is not plain, its
 * Program with its one FRAME compiled by the walk that verifies it: the verifying walk
 * stops at the first global or compiled operation and the compiling walk starts over,
 * so a small load walks its input about once, and plain data is never compiled.  None
 * where Program(...) compiles lazily instead: for a longer or mutable input, verified
 * whole first, then compiled as the C unpickler reads it. */
static PyObject *prepare(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer buf;
    Py_ssize_t limits[4];
    Answer a;
    if (parse_settings(args, nargs, &buf, limits) < 0) return NULL;
    int small = PyBytes_CheckExact(args[0]) && buf.len <= CHUNK;
    int r = verify_walk(&buf, limits, small, &a);
    if (r != W_NEXT) { /* plain, refused, or verified whole */
        PyBuffer_Release(&buf);
        return answer(r, &a, Py_NewRef(Py_None));
    }
    Program *self = (Program *)ProgramType.tp_alloc(&ProgramType, 0); /* (small and not plain) */
    if (!self) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    self->data = buf; /* (released with it) */
    walk_init(&self->w, buf.buf, buf.len, limits[0], limits[1], limits[2], limits[3], 1);
    self->ready = 1;
    r = compile_steps(self);
    if (r == W_STOP) {
        a = (Answer){self->w.end, self->w.proto, 0};
        return answer(r, &a, (PyObject *)self);
    }
    if (r == W_NEXT) /* a program longer than one FRAME: verified whole, then compiled lazily */
        r = verify_walk(&self->data, limits, 0, &a);
    else if (r == W_DECLINE)
        a = (Answer){-1, 0, 0};
    Py_DECREF(self);
    return answer(r, &a, Py_NewRef(Py_None));
}

static PyMethodDef methods[] = {
    {"verify", (PyCFunction)(void (*)(void))verify, METH_FASTCALL, "(end past STOP or -1, protocol, plain data)."},
    {"prepare", (PyCFunction)(void (*)(void))prepare, METH_FASTCALL,
     "verify's answer and, for a small pickle in bytes, its compiled Program (else None)."},
    {"use_shuffle", use_shuffle, METH_O, "Whether to pack decoded latin-1 with SSSE3 shuffles; returns the old setting."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastcheck", NULL, -1, methods};

/* The opcode table as (code, name, argument, pops, pushes, flags), for the test that
 * checks it against pickletools. */
static PyObject *opcode_table(void) {
    PyObject *rows = PyList_New(0);
    if (!rows) return NULL;
    for (int code = 0; code < 256; code++) {
        const OpInfo *info = &OPS[code];
        if (!info->name) continue;
        PyObject *row = Py_BuildValue("(isiiii)", code, info->name, info->arg, info->pop, info->push, info->flags);
        if (!row || PyList_Append(rows, row) < 0) {
            Py_XDECREF(row);
            Py_DECREF(rows);
            return NULL;
        }
        Py_DECREF(row);
    }
    PyObject *table = PyList_AsTuple(rows);
    Py_DECREF(rows);
    return table;
}

PyMODINIT_FUNC PyInit__fastcheck(void) {
    if (PyType_Ready(&ProgramType) < 0) return NULL;
#ifdef HAVE_SHUFFLE
    init_shuffle();
#endif
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    static const struct { const char *name; long value; } constants[] = {
        {"C_REDUCE", C_REDUCE}, {"C_BUILD", C_BUILD}, {"C_NEWOBJ", C_NEWOBJ}, {"C_NEWOBJ_EX", C_NEWOBJ_EX},
        {"C_APPEND", C_APPEND}, {"C_APPENDS", C_APPENDS}, {"C_SETITEM", C_SETITEM}, {"C_SETITEMS", C_SETITEMS},
        {"C_ADDITEMS", C_ADDITEMS}, {"C_LATIN1", C_LATIN1}, {"RUNS", RUNS}, {"MARKED", MARKED},
        {"PUSHES_MARK", PUSHES_MARK}, {"PAYLOAD_MIN", PAYLOAD_MIN}, {"CHUNK", (long)CHUNK},
    };
    for (size_t i = 0; i < sizeof(constants) / sizeof(constants[0]); i++) {
        if (PyModule_AddIntConstant(m, constants[i].name, constants[i].value) < 0) goto fail;
    }
    if (PyModule_AddObjectRef(m, "Program", (PyObject *)&ProgramType) < 0) goto fail;
    PyObject *table = opcode_table();
    if (!table || PyModule_AddObject(m, "OPCODES", table) < 0) {
        Py_XDECREF(table);
        goto fail;
    }
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
