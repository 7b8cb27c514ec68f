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
 * SETITEM(S) on an object of a class the engine already let have items in this load
 * (Engine.type_rules) runs here too, as Engine.op_SETITEMS runs it, unless the target
 * is a global (the engine refuses that).  A planned call's result whose class the gate
 * already called plain for the names this load found it by skips Engine.made.
 * Find (below) is the loader's find_class, for the globals the gate has seen the
 * engine look up.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>

typedef struct {
    PyObject_HEAD
    PyObject *fallback, *call_only, *plain, *call_failed, *unpickling_error;
    long reduce_code, setitem_code, setitems_code;
    vectorcallfunc vectorcall; /* (called once per compiled operation: no argument tuple) */
} Dispatch;

/* What a planned call reads of one load's engine, read once: Load(engine), kept on the
 * loader as `tables` (the engine's tables are made with it and never replaced). */
typedef struct {
    PyObject_HEAD
    PyObject *engine, *plans, *tokens, *made_info, *max_calls, *globals, *type_rules;
    PyObject *found, *known, *max_globals; /* (for Find) */
    PyObject *class_info;                  /* the gate's, for a result's class (Gate.class_info's cache) */
    int unrestricted, renames;             /* the policy allows everything; Python 2 names are renamed */
} Load;

static PyObject *s_one, *s_load, *s_plans, *s_tokens, *s_calls, *s_limits, *s_max_calls, *s_made_info, *s_made;
static PyObject *s_globals, *s_type_rules, *s_items, *s_setitem;
static PyObject *s_found, *s_gate, *s_known, *s_max_globals, *s_lookups, *s_hook, *s_obj, *s_unrestricted, *s_proto,
    *s_fix_imports, *s_class_info;

static void load_dealloc(Load *self) {
    Py_XDECREF(self->engine);
    Py_XDECREF(self->plans);
    Py_XDECREF(self->tokens);
    Py_XDECREF(self->made_info);
    Py_XDECREF(self->max_calls);
    Py_XDECREF(self->globals);
    Py_XDECREF(self->type_rules);
    Py_XDECREF(self->found);
    Py_XDECREF(self->known);
    Py_XDECREF(self->max_globals);
    Py_XDECREF(self->class_info);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* engine.`name` is true, or -1 with an exception set. */
static int engine_flag(PyObject *engine, PyObject *name) {
    PyObject *value = PyObject_GetAttr(engine, name);
    if (!value) return -1;
    int truth = PyObject_IsTrue(value);
    Py_DECREF(value);
    return truth;
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
    self->max_globals = self->max_calls ? PyObject_GetAttr(limits, s_max_globals) : NULL;
    Py_XDECREF(limits);
    self->globals = self->max_globals ? PyObject_GetAttr(engine, s_globals) : NULL;
    self->type_rules = self->globals ? PyObject_GetAttr(engine, s_type_rules) : NULL;
    self->found = self->type_rules ? PyObject_GetAttr(engine, s_found) : NULL;
    PyObject *gate = self->found ? PyObject_GetAttr(engine, s_gate) : NULL;
    self->known = gate ? PyObject_GetAttr(gate, s_known) : NULL;
    self->class_info = self->known ? PyObject_GetAttr(gate, s_class_info) : NULL;
    Py_XDECREF(gate);
    PyObject *hook = self->class_info ? PyObject_GetAttr(engine, s_hook) : NULL;
    if (hook && hook != Py_None) PyErr_SetString(PyExc_TypeError, "the fast path's engine has no find_class hook");
    self->unrestricted = hook == Py_None ? engine_flag(engine, s_unrestricted) : -1;
    Py_XDECREF(hook);
    int fix_imports = self->unrestricted < 0 ? -1 : engine_flag(engine, s_fix_imports);
    PyObject *proto = fix_imports < 0 ? NULL : PyObject_GetAttr(engine, s_proto);
    long protocol = proto ? PyLong_AsLong(proto) : -1;
    Py_XDECREF(proto);
    if (!proto || (protocol == -1 && PyErr_Occurred())) {
        Py_DECREF(self);
        return NULL;
    }
    self->renames = protocol < 3 && fix_imports;
    if (!PyDict_CheckExact(self->plans) || !PyDict_CheckExact(self->tokens) || !PyDict_CheckExact(self->made_info) ||
        !PyDict_CheckExact(self->globals) || !PyDict_CheckExact(self->type_rules) || !PyDict_CheckExact(self->found) ||
        !PyDict_CheckExact(self->known) || !PyDict_CheckExact(self->class_info)) {
        Py_DECREF(self);
        PyErr_SetString(PyExc_TypeError,
                        "an engine's plans, tokens, made_info, globals, type_rules and found, and its gate's known "
                        "and _class_info, are dicts");
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
    long reduce_code, setitem_code, setitems_code;
    if (!PyArg_ParseTuple(args, "OO!OOOlll", &fallback, &PyType_Type, &call_only, &plain, &call_failed,
                          &unpickling_error, &reduce_code, &setitem_code, &setitems_code)) {
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
    self->setitem_code = setitem_code;
    self->setitems_code = setitems_code;
    self->vectorcall = dispatch_call;
    return (PyObject *)self;
}

/* Bound to a loader, like a function defined in its class. */
static PyObject *dispatch_get(PyObject *self, PyObject *obj, PyObject *type) {
    if (obj == NULL || obj == Py_None) return Py_NewRef(self);
    return PyMethod_New(self, obj);
}

/* The call named `name` raised, as Engine.invoke handles it: picklefence's own errors and
 * what is not an Exception stand, anything else becomes `raise call_failed(name, exc)
 * from exc`. */
static void call_failed(Dispatch *self, PyObject *name) {
    if (PyErr_ExceptionMatches(self->unpickling_error) || !PyErr_ExceptionMatches(PyExc_Exception)) return;
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    if (tb) PyException_SetTraceback(exc, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    PyObject *error = PyObject_CallFunctionObjArgs(self->call_failed, name, exc, NULL);
    if (error) {
        PyException_SetCause(error, Py_NewRef(exc));
        PyException_SetContext(error, Py_NewRef(exc));
        PyErr_SetObject((PyObject *)Py_TYPE(error), error);
        Py_DECREF(error);
    }
    Py_DECREF(exc);
}

/* SETITEM(S) of `items` (a list of keys and values, or one (key, value) tuple) on
 * `target`, as Engine.op_SETITEMS runs it, where the engine already let the target's
 * class have items in this load (its type_rules keep only classes never refused: no
 * code, class or partial) and the target is not a global: type(target).__setitem__ for
 * each pair.  NULL with no exception set when the engine itself must take it. */
static PyObject *planned_items(Dispatch *self, Load *load, PyObject *target, PyObject *items) {
    PyObject *key = PyLong_FromVoidPtr(target);
    if (!key) return NULL;
    int global = PyDict_Contains(load->globals, key);
    Py_DECREF(key);
    if (global != 0) return NULL; /* a global: the engine refuses it (or the error stands) */
    PyObject *rule_key = PyTuple_Pack(2, (PyObject *)Py_TYPE(target), s_items);
    if (!rule_key) return NULL;
    int granted = PyDict_Contains(load->type_rules, rule_key);
    Py_DECREF(rule_key);
    Py_ssize_t n = PySequence_Fast_GET_SIZE(items);
    if (granted <= 0 || n % 2) return NULL; /* (an odd number of items: the engine refuses it) */
    PyObject *setitem = PyObject_GetAttr((PyObject *)Py_TYPE(target), s_setitem);
    if (!setitem) {
        PyErr_Clear(); /* the engine says what is wrong */
        return NULL;
    }
    Py_INCREF(items); /* (a __setitem__ of Python code runs between the pairs) */
    PyObject *result = NULL;
    for (Py_ssize_t i = 0;; i += 2) {
        if (i + 1 >= PySequence_Fast_GET_SIZE(items)) { /* (the list is the C unpickler's: no code reaches it) */
            result = Py_NewRef(target);
            break;
        }
        PyObject *pair[3] = {target, PySequence_Fast_GET_ITEM(items, i), PySequence_Fast_GET_ITEM(items, i + 1)};
        Py_INCREF(pair[1]);
        Py_INCREF(pair[2]);
        PyObject *done = PyObject_Vectorcall(setitem, pair, 3, NULL);
        Py_DECREF(pair[1]);
        Py_DECREF(pair[2]);
        if (!done) {
            PyObject *name = PyTuple_Pack(2, target, s_setitem);
            if (name) {
                call_failed(self, name);
                Py_DECREF(name);
            }
            break;
        }
        Py_DECREF(done);
    }
    Py_DECREF(items);
    Py_DECREF(setitem);
    return result;
}

/* entry is (obj, names) with entry[0] `obj`: globals' entry of an object of this load. */
static int entry_of(PyObject *entry, PyObject *obj) {
    return entry && PyTuple_CheckExact(entry) && PyTuple_GET_SIZE(entry) == 2 && PyTuple_GET_ITEM(entry, 0) == obj;
}

/* `plain` where the gate already said that instances of `cls`, found by the names
 * this load found it by, are neither measured nor validated (Gate.class_info's cache,
 * read as Engine.made reads it), kept in made_info as Engine.made keeps it; else NULL
 * (an exception set on error), and Engine.made asks the gate. */
static PyObject *known_plain(Dispatch *self, Load *load, PyObject *cls) {
    PyObject *known = PyDict_GetItemWithError(load->class_info, cls); /* (names, info) */
    if (!known || !PyTuple_CheckExact(known) || PyTuple_GET_SIZE(known) != 2) return NULL;
    if (PyTuple_GET_ITEM(known, 1) != self->plain) return NULL;
    PyObject *asked = PyTuple_GET_ITEM(known, 0), *key = PyLong_FromVoidPtr(cls);
    if (!key) return NULL;
    PyObject *entry = PyDict_GetItemWithError(load->globals, key);
    Py_DECREF(key);
    int same = entry_of(entry, cls) ? PyTuple_GET_ITEM(entry, 1) == asked
                                    : !PyErr_Occurred() && PyTuple_CheckExact(asked) && !PyTuple_GET_SIZE(asked);
    if (!same || PyDict_SetItem(load->made_info, cls, self->plain) < 0) return NULL;
    return self->plain;
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
        call_failed(self, PyTuple_GET_ITEM(plan, 2));
        goto release_plan;
    }
    PyObject *info = PyDict_GetItemWithError(load->made_info, (PyObject *)Py_TYPE(result));
    if (!info && !PyErr_Occurred()) info = known_plain(self, load, (PyObject *)Py_TYPE(result));
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

/* The load's tables, kept on the loader as `tables` (a new reference), or NULL. */
static PyObject *loader_tables(PyObject *loader) {
    PyObject *load = PyObject_GetAttr(loader, s_load);
    if (load && Py_TYPE(load) != &LoadType) {
        Py_CLEAR(load);
        PyErr_SetString(PyExc_TypeError, "the loader's tables are not a _calls.Load");
    }
    return load;
}

static PyObject *dispatch_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Dispatch *self = (Dispatch *)callable;
    if (PyVectorcall_NARGS(nargsf) != 2 || (kwnames && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "Dispatch takes (loader, pid)");
        return NULL;
    }
    PyObject *loader = args[0], *pid = args[1];
    if (PyTuple_CheckExact(pid) && PyTuple_GET_SIZE(pid) == 3 && PyLong_CheckExact(PyTuple_GET_ITEM(pid, 2))) {
        long code = PyLong_AsLong(PyTuple_GET_ITEM(pid, 2));
        PyObject *operand = PyTuple_GET_ITEM(pid, 1);
        int reduce = code == self->reduce_code && PyTuple_CheckExact(operand);
        int items = (code == self->setitems_code && PyList_CheckExact(operand)) ||
                    (code == self->setitem_code && PyTuple_CheckExact(operand) && PyTuple_GET_SIZE(operand) == 2);
        if (reduce || items) {
            PyObject *load = loader_tables(loader);
            if (!load) return NULL;
            PyObject *target = PyTuple_GET_ITEM(pid, 0);
            PyObject *result = reduce ? planned_reduce(self, (Load *)load, target, operand)
                                      : planned_items(self, (Load *)load, target, operand);
            Py_DECREF(load);
            if (result || PyErr_Occurred()) return result;
        }
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
    .tp_doc = "The fast path's persistent_load: planned REDUCE calls and known item targets here, the rest to "
              "the fallback.",
    .tp_new = dispatch_new,
};

/* Find(fallback, call_only, renamed): the fast path's loader's `find_class`.  A global
 * this policy's gate has seen Engine.lookup resolve (Gate.known, learned here from the
 * engine's own tables after its lookup) is looked up here as Engine.find and
 * Engine.lookup do it: counted against Limits.max_globals, audited as
 * `pickle.find_class`, recorded as the global's provenance (the gate's own names tuple)
 * with its call plan, and a call-only global replaced by its stand-in; provided the
 * module still holds that very object under that name.  Everything else (no
 * knowledge, a name Python 2 renames, a dotted name, an object already found by another
 * name in this load, the limit reached, a policy that allows everything) goes to
 * `fallback(engine, module, name)`: Engine.find itself.  (The fast path's engine has no
 * find_class hook, which Engine.find would show each name: Load refuses one.) */
typedef struct {
    PyObject_HEAD
    PyObject *fallback, *call_only, *renamed;
    vectorcallfunc vectorcall;
} Find;

static void find_dealloc(Find *self) {
    Py_XDECREF(self->fallback);
    Py_XDECREF(self->call_only);
    Py_XDECREF(self->renamed);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *find_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames);

static PyObject *find_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *fallback, *call_only, *renamed;
    if ((kwargs && PyDict_GET_SIZE(kwargs)) ||
        !PyArg_ParseTuple(args, "OO!O!", &fallback, &PyType_Type, &call_only, &PyFrozenSet_Type, &renamed)) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "Find takes (fallback, call_only, renamed)");
        return NULL;
    }
    Find *self = (Find *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->fallback = Py_NewRef(fallback);
    self->call_only = Py_NewRef(call_only);
    self->renamed = Py_NewRef(renamed);
    self->vectorcall = find_call;
    return (PyObject *)self;
}

/* The object `module` (a real module, in sys.modules) holds under `name` now, borrowed;
 * NULL (no exception set) where Engine.lookup's own resolution must say. */
static PyObject *held_now(PyObject *module, PyObject *name) {
    PyObject *mod = PyDict_GetItemWithError(PyImport_GetModuleDict(), module);
    if (!mod || !PyModule_CheckExact(mod)) return NULL;
    return PyDict_GetItemWithError(PyModule_GetDict(mod), name);
}

/* Engine.find's answer for a global of Gate.known, or NULL with no exception set where
 * the engine must look it up itself. */
static PyObject *known_global(Find *self, Load *load, PyObject *key, PyObject *module, PyObject *name) {
    PyObject *engine = load->engine, *result = NULL, *gid = NULL, *token = NULL, *entry = NULL;
    PyObject *lookups = PyObject_GetAttr(engine, s_lookups);
    if (!lookups) return NULL;
    PyObject *next = PyLong_CheckExact(lookups) ? PyNumber_Add(lookups, s_one) : NULL;
    Py_DECREF(lookups);
    if (!next || PyObject_RichCompareBool(next, load->max_globals, Py_GT) != 0) goto done; /* (the engine refuses) */
    PyObject *found = PyDict_GetItemWithError(load->found, key);                           /* borrowed */
    if (found) {
        if (PyObject_SetAttr(engine, s_lookups, next) == 0) result = Py_NewRef(found);
        goto done;
    }
    PyObject *known = PyDict_GetItemWithError(load->known, key); /* (obj, names, call_only, (name, test) or None) */
    if (!known || !PyTuple_CheckExact(known) || PyTuple_GET_SIZE(known) != 4) goto done;
    entry = Py_NewRef(known); /* (held: the dict calls below may run code) */
    PyObject *obj = PyTuple_GET_ITEM(entry, 0), *names = PyTuple_GET_ITEM(entry, 1);
    PyObject *plan = PyTuple_GET_ITEM(entry, 3);
    int call_only = PyTuple_GET_ITEM(entry, 2) == Py_True;
    if (plan != Py_None && (!PyTuple_CheckExact(plan) || PyTuple_GET_SIZE(plan) != 2)) goto done;
    /* (replaced, or gone: the engine resolves it again; a module another thread is still
     * importing is not waited for: the object it holds under the name is the known one) */
    if (held_now(module, name) != obj) goto done;
    gid = PyLong_FromVoidPtr(obj);
    if (!gid) goto done;
    /* found by another name in this load: the engine merges the provenance */
    PyObject *prior = PyDict_GetItemWithError(load->globals, gid);
    if (entry_of(prior, obj) || PyErr_Occurred()) goto done;
    if (PySys_Audit("pickle.find_class", "OO", module, name) < 0) goto done;
    if (PyObject_SetAttr(engine, s_lookups, next) < 0) goto done;
    PyObject *value = obj;
    if (call_only) { /* the stand-in, made as Engine.lookup makes it: object.__new__(CallOnly) */
        PyObject *no_args = PyTuple_New(0);
        token = no_args ? PyBaseObject_Type.tp_new((PyTypeObject *)self->call_only, no_args, NULL) : NULL;
        Py_XDECREF(no_args);
        if (!token || PyObject_SetAttr(token, s_obj, obj) < 0) goto done;
        if (PyDict_SetItem(load->tokens, gid, token) < 0) goto done;
        PyObject *held = PyTuple_Pack(2, obj, names);
        int failed = !held || PyDict_SetItem(load->globals, gid, held) < 0;
        Py_XDECREF(held);
        if (failed) goto done;
        value = token;
    }
    if (PyDict_SetItem(load->found, key, value) < 0) goto done;
    PyObject *vid = call_only ? PyLong_FromVoidPtr(value) : Py_NewRef(gid);
    PyObject *held = vid ? PyTuple_Pack(2, value, names) : NULL;
    int failed = !held || PyDict_SetItem(load->globals, vid, held) < 0;
    Py_XDECREF(held);
    if (!failed && plan != Py_None) {
        PyObject *planned = PyTuple_Pack(4, value, obj, PyTuple_GET_ITEM(plan, 0), PyTuple_GET_ITEM(plan, 1));
        failed = !planned || PyDict_SetItem(load->plans, vid, planned) < 0;
        Py_XDECREF(planned);
    } else if (!failed) {
        int stale = PyDict_Contains(load->plans, vid); /* (an object of an earlier load with the same id) */
        failed = stale < 0 || (stale && PyDict_DelItem(load->plans, vid) < 0);
    }
    Py_XDECREF(vid);
    if (!failed) result = Py_NewRef(value);
done:
    Py_XDECREF(entry);
    Py_XDECREF(next);
    Py_XDECREF(gid);
    Py_XDECREF(token);
    return result;
}

/* After Engine.find looked up `key` and returned `value`: what a later load may take
 * from Gate.known, read from the engine's own tables, where they hold the plain case
 * (found by this name alone, the gate's names tuple, the module's own object); 0 or -1
 * on error. */
static int learn(Find *self, Load *load, PyObject *key, PyObject *module, PyObject *name, PyObject *value) {
    if (PyDict_GetItemWithError(load->found, key) != value) return PyErr_Occurred() ? -1 : 0;
    int call_only = (PyObject *)Py_TYPE(value) == self->call_only;
    PyObject *obj = call_only ? PyObject_GetAttr(value, s_obj) : Py_NewRef(value);
    if (!obj) return -1;
    int status = -1;
    PyObject *vid = PyLong_FromVoidPtr(value), *gid = PyLong_FromVoidPtr(obj), *entry = NULL;
    if (!vid || !gid) goto done;
    status = 0;
    PyObject *own = PyDict_GetItemWithError(load->globals, vid);
    if (!entry_of(own, value)) goto done;
    PyObject *names = PyTuple_GET_ITEM(own, 1);
    if (!PyTuple_CheckExact(names) || PyTuple_GET_SIZE(names) != 1) goto done; /* (found by more names) */
    if (call_only) {
        PyObject *real = PyDict_GetItemWithError(load->globals, gid);
        if (!entry_of(real, obj) || PyTuple_GET_ITEM(real, 1) != names) goto done;
    }
    if (held_now(module, name) != obj) goto done;
    PyObject *plan = PyDict_GetItemWithError(load->plans, vid), *tail = Py_None;
    if (plan) {
        if (!PyTuple_CheckExact(plan) || PyTuple_GET_SIZE(plan) != 4 || PyTuple_GET_ITEM(plan, 0) != value ||
            PyTuple_GET_ITEM(plan, 1) != obj) {
            goto done;
        }
        tail = PyTuple_GetSlice(plan, 2, 4);
    } else {
        Py_INCREF(tail);
    }
    if (!tail || PyErr_Occurred()) {
        Py_XDECREF(tail);
        status = PyErr_Occurred() ? -1 : 0;
        goto done;
    }
    entry = PyTuple_Pack(4, obj, names, call_only ? Py_True : Py_False, tail);
    Py_DECREF(tail);
    status = entry ? PyDict_SetItem(load->known, key, entry) : -1;
done:
    if (status == 0 && PyErr_Occurred()) status = -1;
    Py_XDECREF(entry);
    Py_XDECREF(vid);
    Py_XDECREF(gid);
    Py_DECREF(obj);
    return status;
}

static PyObject *find_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Find *self = (Find *)callable;
    if (PyVectorcall_NARGS(nargsf) != 3 || (kwnames && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "Find takes (loader, module, name)");
        return NULL;
    }
    PyObject *module = args[1], *name = args[2], *key = NULL, *result = NULL;
    PyObject *load = loader_tables(args[0]);
    if (!load) return NULL;
    Load *tables = (Load *)load;
    int known = !tables->unrestricted && PyUnicode_CheckExact(module) && PyUnicode_CheckExact(name);
    if (known && tables->renames) {
        int renamed = PySet_Contains(self->renamed, module);
        if (renamed < 0) goto done;
        known = !renamed;
    }
    if (known) {
        Py_ssize_t dot = PyUnicode_FindChar(name, '.', 0, PyUnicode_GET_LENGTH(name), 1);
        if (dot == -2) goto done;
        known = dot == -1;
    }
    if (known) {
        key = PyTuple_Pack(2, module, name);
        if (!key) goto done;
        result = known_global(self, tables, key, module, name);
        if (result || PyErr_Occurred()) goto done;
    }
    PyObject *call[3] = {tables->engine, module, name};
    result = PyObject_Vectorcall(self->fallback, call, 3, NULL);
    if (result && known && learn(self, tables, key, module, name, result) < 0) Py_CLEAR(result);
done:
    Py_XDECREF(key);
    Py_DECREF(load);
    return result;
}

static PyTypeObject FindType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "picklefence._calls.Find",
    .tp_basicsize = sizeof(Find),
    .tp_dealloc = (destructor)find_dealloc,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Find, vectorcall),
    .tp_descr_get = dispatch_get,
    /* (a method descriptor: the C unpickler calls it with the loader, binding nothing) */
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "The fast path's find_class: globals the gate knows here, the rest to the fallback (Engine.find).",
    .tp_new = find_new,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_calls", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__calls(void) {
    struct { PyObject **slot; const char *name; } names[] = {
        {&s_load, "tables"}, {&s_plans, "plans"}, {&s_tokens, "tokens"}, {&s_calls, "calls"},
        {&s_limits, "limits"}, {&s_max_calls, "max_calls"}, {&s_made_info, "made_info"}, {&s_made, "made"},
        {&s_globals, "globals"}, {&s_type_rules, "type_rules"}, {&s_items, "items"}, {&s_setitem, "__setitem__"},
        {&s_found, "found"}, {&s_gate, "gate"}, {&s_known, "known"}, {&s_max_globals, "max_globals"},
        {&s_lookups, "lookups"}, {&s_hook, "find_class_hook"}, {&s_obj, "obj"}, {&s_unrestricted, "unrestricted"},
        {&s_proto, "proto"}, {&s_fix_imports, "fix_imports"}, {&s_class_info, "_class_info"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        *names[i].slot = PyUnicode_InternFromString(names[i].name);
        if (!*names[i].slot) return NULL;
    }
    s_one = PyLong_FromLong(1);
    if (!s_one || PyType_Ready(&DispatchType) < 0 || PyType_Ready(&LoadType) < 0 || PyType_Ready(&FindType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "Dispatch", (PyObject *)&DispatchType) < 0 ||
        PyModule_AddObjectRef(m, "Load", (PyObject *)&LoadType) < 0 ||
        PyModule_AddObjectRef(m, "Find", (PyObject *)&FindType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
