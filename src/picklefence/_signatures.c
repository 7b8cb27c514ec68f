/* A rule's signatures as one compiled test of a call's positional arguments.
 *
 * PositionalTest(signatures) is called with a tuple of arguments and answers whether
 * some signature accepts them, exactly as Signature.accepts_positional does in
 * _rules.py (the reference; a differential test holds the two equal).  It is built only
 * for signatures that need nothing of the load (no check, no `globals` constraint),
 * and spares a planned call the three Python frames of that answer.
 *
 * `signatures` is a tuple, one item per signature: None (any positional arguments) or
 * (fixed, varargs), `fixed` a tuple of specs and `varargs` a spec or None.  A spec is
 * (types, values, max_len, min, max, arg):
 *   types    a frozenset of builtin types the argument's type must be in, or None;
 *   values   a tuple of values it must equal (with its exact type), or None;
 *   max_len  a bound of len(argument), or -1;
 *   min/max  bounds of an int or float argument, or None;
 *   arg      None, or the Python Arg that judges this argument whole (its types name
 *            classes by "module:qualname", or it has a pattern): arg.accepts(value, None).
 * The checks run in Arg.accepts's order, so an exception (a len() that raises) is the
 * same exception.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyObject *types, *values, *min, *max, *arg; /* borrowed from `signatures`, which is kept */
    Py_ssize_t max_len;
} Spec;

typedef struct {
    int any;            /* no positional constraint */
    Py_ssize_t nfixed;
    Spec *fixed;
    Spec *varargs;      /* NULL: no further arguments */
} Sig;

typedef struct {
    PyObject_HEAD
    PyObject *signatures; /* keeps every borrowed reference alive */
    Py_ssize_t nsigs;
    Sig *sigs;
    Spec *specs;          /* every Spec of every Sig, in one block */
} PositionalTest;

static PyObject *accepts_name; /* "accepts" */

static int parse_spec(PyObject *item, Spec *spec) {
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 6) {
        PyErr_SetString(PyExc_TypeError, "a spec is (types, values, max_len, min, max, arg)");
        return -1;
    }
    PyObject *types = PyTuple_GET_ITEM(item, 0), *values = PyTuple_GET_ITEM(item, 1);
    PyObject *max_len = PyTuple_GET_ITEM(item, 2), *min = PyTuple_GET_ITEM(item, 3);
    PyObject *max = PyTuple_GET_ITEM(item, 4), *arg = PyTuple_GET_ITEM(item, 5);
    if ((types != Py_None && !PyFrozenSet_CheckExact(types)) || (values != Py_None && !PyTuple_CheckExact(values))) {
        PyErr_SetString(PyExc_TypeError, "a spec's types are a frozenset and its values a tuple");
        return -1;
    }
    spec->max_len = PyLong_AsSsize_t(max_len);
    if (spec->max_len == -1 && PyErr_Occurred()) return -1;
    spec->types = types == Py_None ? NULL : types;
    spec->values = values == Py_None ? NULL : values;
    spec->min = min == Py_None ? NULL : min;
    spec->max = max == Py_None ? NULL : max;
    spec->arg = arg == Py_None ? NULL : arg;
    return 0;
}

static void test_dealloc(PositionalTest *self) {
    PyMem_Free(self->sigs);
    PyMem_Free(self->specs);
    Py_XDECREF(self->signatures);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *test_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *signatures;
    if (!PyArg_ParseTuple(args, "O!", &PyTuple_Type, &signatures)) return NULL;
    Py_ssize_t nsigs = PyTuple_GET_SIZE(signatures), nspecs = 0;
    for (Py_ssize_t i = 0; i < nsigs; i++) {
        PyObject *sig = PyTuple_GET_ITEM(signatures, i);
        if (sig == Py_None) continue;
        if (!PyTuple_Check(sig) || PyTuple_GET_SIZE(sig) != 2 || !PyTuple_Check(PyTuple_GET_ITEM(sig, 0))) {
            PyErr_SetString(PyExc_TypeError, "a signature is None or (fixed specs, varargs spec)");
            return NULL;
        }
        nspecs += PyTuple_GET_SIZE(PyTuple_GET_ITEM(sig, 0)) + (PyTuple_GET_ITEM(sig, 1) != Py_None);
    }
    PositionalTest *self = (PositionalTest *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->sigs = PyMem_Calloc(nsigs ? nsigs : 1, sizeof(Sig));
    self->specs = PyMem_Calloc(nspecs ? nspecs : 1, sizeof(Spec));
    if (!self->sigs || !self->specs) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    Py_INCREF(signatures);
    self->signatures = signatures;
    self->nsigs = nsigs;
    Spec *next = self->specs;
    for (Py_ssize_t i = 0; i < nsigs; i++) {
        PyObject *sig = PyTuple_GET_ITEM(signatures, i);
        Sig *out = &self->sigs[i];
        if (sig == Py_None) {
            out->any = 1;
            continue;
        }
        PyObject *fixed = PyTuple_GET_ITEM(sig, 0), *varargs = PyTuple_GET_ITEM(sig, 1);
        out->nfixed = PyTuple_GET_SIZE(fixed);
        out->fixed = next;
        for (Py_ssize_t j = 0; j < out->nfixed; j++) {
            if (parse_spec(PyTuple_GET_ITEM(fixed, j), next++) < 0) {
                Py_DECREF(self);
                return NULL;
            }
        }
        if (varargs != Py_None) {
            out->varargs = next;
            if (parse_spec(varargs, next++) < 0) {
                Py_DECREF(self);
                return NULL;
            }
        }
    }
    return (PyObject *)self;
}

/* Arg.accepts(value, None): 1, 0, or -1 with an exception set. */
static int spec_accepts(const Spec *spec, PyObject *value) {
    if (spec->arg) {
        PyObject *verdict = PyObject_CallMethodObjArgs(spec->arg, accepts_name, value, Py_None, NULL);
        if (!verdict) return -1;
        int ok = PyObject_IsTrue(verdict);
        Py_DECREF(verdict);
        return ok;
    }
    PyTypeObject *cls = Py_TYPE(value);
    if (spec->types) {
        int in = PySet_Contains(spec->types, (PyObject *)cls);
        if (in <= 0) return in;
    }
    if (spec->values) {
        int found = 0;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(spec->values) && !found; i++) {
            PyObject *v = PyTuple_GET_ITEM(spec->values, i);
            if (Py_TYPE(v) != cls) continue;
            PyObject *eq = PyObject_RichCompare(value, v, Py_EQ); /* `==`, without identity's shortcut */
            if (!eq) return -1;
            found = PyObject_IsTrue(eq);
            Py_DECREF(eq);
            if (found < 0) return -1;
        }
        if (!found) return 0;
    }
    if (spec->max_len >= 0) {
        Py_ssize_t n = PyObject_Length(value);
        if (n < 0) {
            if (!PyErr_ExceptionMatches(PyExc_TypeError)) return -1;
            PyErr_Clear();
            return 0;
        }
        if (n > spec->max_len) return 0;
    }
    if (spec->min || spec->max) {
        if (cls != &PyLong_Type && cls != &PyFloat_Type) return 0;
        if (spec->min) {
            int below = PyObject_RichCompareBool(value, spec->min, Py_LT);
            if (below != 0) return below < 0 ? -1 : 0;
        }
        if (spec->max) {
            int above = PyObject_RichCompareBool(value, spec->max, Py_GT);
            if (above != 0) return above < 0 ? -1 : 0;
        }
    }
    return 1;
}

static int sig_accepts(const Sig *sig, PyObject *args) {
    if (sig->any) return 1;
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (n < sig->nfixed || (!sig->varargs && n != sig->nfixed)) return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int ok = spec_accepts(i < sig->nfixed ? &sig->fixed[i] : sig->varargs, PyTuple_GET_ITEM(args, i));
        if (ok <= 0) return ok;
    }
    return 1;
}

static PyObject *test_call(PositionalTest *self, PyObject *args, PyObject *kwargs) {
    PyObject *call_args;
    if (kwargs && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "a positional test takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "O!", &PyTuple_Type, &call_args)) return NULL;
    for (Py_ssize_t i = 0; i < self->nsigs; i++) {
        int ok = sig_accepts(&self->sigs[i], call_args);
        if (ok < 0) return NULL;
        if (ok) Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

static PyTypeObject PositionalTestType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "picklefence._signatures.PositionalTest",
    .tp_basicsize = sizeof(PositionalTest),
    .tp_dealloc = (destructor)test_dealloc,
    .tp_call = (ternaryfunc)test_call,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "PositionalTest(signatures)(args) -> whether some signature accepts the positional args.",
    .tp_new = test_new,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_signatures", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__signatures(void) {
    accepts_name = PyUnicode_InternFromString("accepts");
    if (!accepts_name || PyType_Ready(&PositionalTestType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "PositionalTest", (PyObject *)&PositionalTestType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
