/* The fast path's callback for the calls the strict engine has planned.
 *
 * Dispatch(fallback, call_only, plain, call_failed, unpickling_error, reduce_code) is
 * set as the fast path's loader class's `persistent_load`; it binds like a method, so
 * the C unpickler calls it with (loader, pid) for every compiled operation, and reads
 * the load's engine tables from the loader's `tables` (a Load).  A REDUCE
 * of a global the engine has a call plan for (Engine.plans: Gate.plain_call's answer)
 * whose arguments pass the plan's test is run here, as Engine.call runs it: the call
 * counted against Limits.max_calls, an exception in it a CallFailedError (by
 * `call_failed`), the result handed to Engine.made unless its class is known plain.
 * Everything else, and every case where this code would have to decide something
 * (a call-only global among the arguments, a failed test, the call limit reached),
 * goes to `fallback(loader, pid)`, which runs the strict engine's own handler: this
 * file decides nothing the engine would not, it only skips two Python frames.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>

typedef struct {
    PyObject_HEAD
    PyObject *fallback, *call_only, *plain, *call_failed, *unpickling_error;
    long reduce_code;
    vectorcallfunc vectorcall; /* (called once per compiled operation: no argument tuple) */
} Dispatch;

/* What a planned call reads of one load's engine, read once: Load(engine), kept on the
 * loader as `tables` (the engine's tables are made with it and never replaced). */
typedef struct {
    PyObject_HEAD
    PyObject *engine, *plans, *tokens, *made_info, *max_calls;
} Load;

static PyObject *s_one, *s_load, *s_plans, *s_tokens, *s_calls, *s_limits, *s_max_calls, *s_made_info, *s_made;

static void load_dealloc(Load *self) {
    Py_XDECREF(self->engine);
    Py_XDECREF(self->plans);
    Py_XDECREF(self->tokens);
    Py_XDECREF(self->made_info);
    Py_XDECREF(self->max_calls);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *load_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    if (PyTuple_GET_SIZE(args) != 1 || (kwargs && PyDict_GET_SIZE(kwargs))) {
        PyErr_SetString(PyExc_TypeError, "Load() takes one argument, the engine");
        return NULL;
    }
    PyObject *engine = PyTuple_GET_ITEM(args, 0);
    Load *self = (Load *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->engine = Py_NewRef(engine);
    self->plans = PyObject_GetAttr(engine, s_plans);
    self->tokens = self->plans ? PyObject_GetAttr(engine, s_tokens) : NULL;
    self->made_info = self->tokens ? PyObject_GetAttr(engine, s_made_info) : NULL;
    PyObject *limits = self->made_info ? PyObject_GetAttr(engine, s_limits) : NULL;
    self->max_calls = limits ? PyObject_GetAttr(limits, s_max_calls) : NULL;
    Py_XDECREF(limits);
    if (!self->max_calls) {
        Py_DECREF(self);
        return NULL;
    }
    if (!PyDict_CheckExact(self->plans) || !PyDict_CheckExact(self->tokens) || !PyDict_CheckExact(self->made_info)) {
        Py_DECREF(self);
        PyErr_SetString(PyExc_TypeError, "an engine's plans, tokens and made_info are dicts");
        return NULL;
    }
    return (PyObject *)self;
}

static PyTypeObject LoadType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "picklefence._calls.Load",
    .tp_basicsize = sizeof(Load),
    .tp_dealloc = (destructor)load_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Load(engine): the engine's tables a planned call reads.",
    .tp_new = load_new,
};

static PyObject *dispatch_call(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames);

static void dispatch_dealloc(Dispatch *self) {
    Py_XDECREF(self->fallback);
    Py_XDECREF(self->call_only);
    Py_XDECREF(self->plain);
    Py_XDECREF(self->call_failed);
    Py_XDECREF(self->unpickling_error);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *dispatch_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *fallback, *call_only, *plain, *call_failed, *unpickling_error;
    long reduce_code;
    if (!PyArg_ParseTuple(args, "OO!OOOl", &fallback, &PyType_Type, &call_only, &plain, &call_failed,
                          &unpickling_error, &reduce_code)) {
        return NULL;
    }
    Dispatch *self = (Dispatch *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->fallback = Py_NewRef(fallback);
    self->call_only = Py_NewRef(call_only);
    self->plain = Py_NewRef(plain);
    self->call_failed = Py_NewRef(call_failed);
    self->unpickling_error = Py_NewRef(unpickling_error);
    self->reduce_code = reduce_code;
    self->vectorcall = dispatch_call;
    return (PyObject *)self;
}

/* Bound to a loader, like a function defined in its class. */
static PyObject *dispatch_get(PyObject *self, PyObject *obj, PyObject *type) {
    if (obj == NULL || obj == Py_None) return Py_NewRef(self);
    return PyMethod_New(self, obj);
}

/* The engine's planned call of `func(*args)`, or NULL with no exception set when the
 * engine itself must take it; NULL with an exception set is the call's error. */
static PyObject *planned_reduce(Dispatch *self, Load *load, PyObject *func, PyObject *args) {
    PyObject *result = NULL, *key = NULL, *calls = NULL, *next = NULL, *engine = load->engine;
    key = PyLong_FromVoidPtr(func);
    if (!key) goto done;
    PyObject *plan = PyDict_GetItemWithError(load->plans, key); /* borrowed */
    if (!plan || !PyTuple_CheckExact(plan) || PyTuple_GET_SIZE(plan) != 4 || PyTuple_GET_ITEM(plan, 0) != func) {
        goto done;
    }
    Py_INCREF(plan);
    if (PyDict_GET_SIZE(load->tokens)) {
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args); i++) {
            if ((PyObject *)Py_TYPE(PyTuple_GET_ITEM(args, i)) == self->call_only) goto release_plan;
        }
    }
    PyObject *test = PyTuple_GET_ITEM(plan, 3);
    if (test != Py_None) {
        PyObject *verdict = PyObject_CallOneArg(test, args);
        if (!verdict) goto release_plan;
        int ok = PyObject_IsTrue(verdict);
        Py_DECREF(verdict);
        if (ok <= 0) goto release_plan; /* refused (the engine says why) or an error */
    }
    calls = PyObject_GetAttr(engine, s_calls);
    if (!calls || !PyLong_CheckExact(calls)) goto release_plan;
    next = PyNumber_Add(calls, s_one);
    if (!next) goto release_plan;
    int over = PyObject_RichCompareBool(next, load->max_calls, Py_GT);
    if (over != 0) goto release_plan; /* the engine refuses it (or the error stands) */
    if (PyObject_SetAttr(engine, s_calls, next) < 0) goto release_plan;
    result = PyObject_Call(PyTuple_GET_ITEM(plan, 1), args, NULL);
    if (!result) {
        /* as Engine.invoke: picklefence's own errors and what is not an Exception stand,
         * anything else becomes `raise call_failed(name, exc) from exc` */
        if (PyErr_ExceptionMatches(self->unpickling_error) || !PyErr_ExceptionMatches(PyExc_Exception)) {
            goto release_plan;
        }
        PyObject *type, *exc, *tb;
        PyErr_Fetch(&type, &exc, &tb);
        PyErr_NormalizeException(&type, &exc, &tb);
        if (tb) PyException_SetTraceback(exc, tb);
        Py_XDECREF(type);
        Py_XDECREF(tb);
        PyObject *error = PyObject_CallFunctionObjArgs(self->call_failed, PyTuple_GET_ITEM(plan, 2), exc, NULL);
        if (error) {
            PyException_SetCause(error, Py_NewRef(exc));
            PyException_SetContext(error, Py_NewRef(exc));
            PyErr_SetObject((PyObject *)Py_TYPE(error), error);
            Py_DECREF(error);
        }
        Py_DECREF(exc);
        goto release_plan;
    }
    PyObject *info = PyDict_GetItemWithError(load->made_info, (PyObject *)Py_TYPE(result));
    if (info != self->plain) {
        PyObject *made = PyErr_Occurred() ? NULL : PyObject_CallMethodOneArg(engine, s_made, result);
        Py_SETREF(result, made);
    }
release_plan:
    Py_DECREF(plan);
done:
    Py_XDECREF(key);
    Py_XDECREF(calls);
    Py_XDECREF(next);
    return result;
}

static PyObject *dispatch_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Dispatch *self = (Dispatch *)callable;
    if (PyVectorcall_NARGS(nargsf) != 2 || (kwnames && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "Dispatch takes (loader, pid)");
        return NULL;
    }
    PyObject *loader = args[0], *pid = args[1];
    if (PyTuple_CheckExact(pid) && PyTuple_GET_SIZE(pid) == 3 && PyLong_CheckExact(PyTuple_GET_ITEM(pid, 2)) &&
        PyLong_AsLong(PyTuple_GET_ITEM(pid, 2)) == self->reduce_code && PyTuple_CheckExact(PyTuple_GET_ITEM(pid, 1))) {
        PyObject *load = PyObject_GetAttr(loader, s_load);
        if (!load) return NULL;
        if (Py_TYPE(load) != &LoadType) {
            Py_DECREF(load);
            PyErr_SetString(PyExc_TypeError, "the loader's tables are not a _calls.Load");
            return NULL;
        }
        PyObject *result = planned_reduce(self, (Load *)load, PyTuple_GET_ITEM(pid, 0), PyTuple_GET_ITEM(pid, 1));
        Py_DECREF(load);
        if (result || PyErr_Occurred()) return result;
    }
    PyObject *call[2] = {loader, pid};
    return PyObject_Vectorcall(self->fallback, call, 2, NULL);
}

static PyTypeObject DispatchType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "picklefence._calls.Dispatch",
    .tp_basicsize = sizeof(Dispatch),
    .tp_dealloc = (destructor)dispatch_dealloc,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Dispatch, vectorcall),
    .tp_descr_get = dispatch_get,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "The fast path's persistent_load: planned REDUCE calls here, the rest to the fallback.",
    .tp_new = dispatch_new,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_calls", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__calls(void) {
    struct { PyObject **slot; const char *name; } names[] = {
        {&s_load, "tables"}, {&s_plans, "plans"}, {&s_tokens, "tokens"}, {&s_calls, "calls"},
        {&s_limits, "limits"}, {&s_max_calls, "max_calls"}, {&s_made_info, "made_info"}, {&s_made, "made"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        *names[i].slot = PyUnicode_InternFromString(names[i].name);
        if (!*names[i].slot) return NULL;
    }
    s_one = PyLong_FromLong(1);
    if (!s_one || PyType_Ready(&DispatchType) < 0 || PyType_Ready(&LoadType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "Dispatch", (PyObject *)&DispatchType) < 0 ||
        PyModule_AddObjectRef(m, "Load", (PyObject *)&LoadType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
