/* Deliberate bugs, built with the sanitizer leg's flags: the leg must report both, or
 * it would not catch such bugs in _fastcheck.c either.  overflow() writes one byte past
 * a 100-byte PyMem_Malloc block (small blocks come from Python's own arenas, which ASan
 * only sees with PYTHONMALLOC=malloc); shift() is undefined behaviour for n >= 32. */
#include <Python.h>

static PyObject *overflow(PyObject *self, PyObject *arg) {
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    char *block = PyMem_Malloc(100);
    if (block == NULL) return PyErr_NoMemory();
    ((volatile char *)block)[n] = 1;
    PyMem_Free(block);
    Py_RETURN_NONE;
}

static PyObject *shift(PyObject *self, PyObject *arg) {
    volatile int n = (int)PyLong_AsLong(arg);
    return PyLong_FromLong(1 << n);
}

static PyMethodDef methods[] = {
    {"overflow", overflow, METH_O, NULL},
    {"shift", shift, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "sanitizer_canary", NULL, -1, methods};

PyMODINIT_FUNC PyInit_sanitizer_canary(void) { return PyModule_Create(&module); }
