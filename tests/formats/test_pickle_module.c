/* test_pickle_module.c: the one torch module the restricted pickle machine admits as
 * data, torch.nn.ParameterDict, on hand-written pickles: NEWOBJ(cls, ()) + BUILD(dict)
 * gives a dict of the instance's state that names its class, in the zip layout and
 * through the legacy ('module', cls, file, source) persistent id; every other way to
 * use the class (calling it, arguments, two BUILDs, a non-dict state, SETITEM on it),
 * other module classes and globals smuggled into its state are refused. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "formats/pickle.h"

typedef struct { unsigned char b[1024]; size_t n; } pk;

static void raw(pk *p, const char *bytes, size_t n) {
    memcpy(p->b + p->n, bytes, n);
    p->n += n;
}
static void op(pk *p, unsigned char c) { p->b[p->n++] = c; }
static void str(pk *p, const char *s) { /* BINUNICODE */
    uint32_t n = (uint32_t)strlen(s);
    op(p, 'X');
    for (int i = 0; i < 4; i++) op(p, (unsigned char)(n >> (8 * i)));
    raw(p, s, n);
}
static void global(pk *p, const char *module, const char *name) {
    op(p, 'c');
    raw(p, module, strlen(module));
    op(p, '\n');
    raw(p, name, strlen(name));
    op(p, '\n');
}
static void start(pk *p) { p->n = 0; op(p, 0x80); op(p, 2); }
static void parameter_dict(pk *p) { global(p, "torch.nn.modules.container", "ParameterDict"); }
/* {"training": True, "_parameters": {"*": 5, "@": 7}, "_keys": {"*": None, "@": None}} */
static void state(pk *p) {
    op(p, '}'); op(p, '(');
    str(p, "training"); op(p, 0x88);
    str(p, "_parameters"); op(p, '}'); op(p, '('); str(p, "*"); op(p, 'K'); op(p, 5); str(p, "@"); op(p, 'K'); op(p, 7); op(p, 'u');
    str(p, "_keys"); op(p, '}'); op(p, '('); str(p, "*"); op(p, 'N'); str(p, "@"); op(p, 'N'); op(p, 'u');
    op(p, 'u');
}

static ow_status run(const pk *p, ow_pickle **out, const ow_pickle_value **root, ow_error *err) {
    *out = ow_pickle_new();
    size_t used = 0;
    ow_status s = ow_pickle_run(*out, p->b, p->n, root, &used, err);
    if (s == OW_OK) CHECK(used == p->n, "the pickle used %zu of %zu bytes", used, p->n);
    return s;
}

static void check_module_state(const ow_pickle_value *pd, const char *what) {
    const char *cls = ow_pickle_module_class(pd);
    CHECK(ow_pickle_kind_of(pd) == OW_PICKLE_DICT && cls && strcmp(cls, "torch.nn.modules.container.ParameterDict") == 0,
          "%s: a dict naming its class (kind %s, class %s)", what, ow_pickle_kind_name(ow_pickle_kind_of(pd)),
          cls ? cls : "(none)");
    CHECK(ow_pickle_string(pd, NULL) == NULL, "%s: a module's dict has no string", what);
    const ow_pickle_value *params = ow_pickle_dict_get(pd, "_parameters");
    CHECK(ow_pickle_len(pd) == 3 && ow_pickle_int(ow_pickle_dict_get(pd, "training")) == 1 &&
              ow_pickle_module_class(params) == NULL && ow_pickle_len(params) == 2 &&
              ow_pickle_int(ow_pickle_dict_get(params, "*")) == 5 && ow_pickle_int(ow_pickle_dict_get(params, "@")) == 7 &&
              ow_pickle_is_string(ow_pickle_dict_key(ow_pickle_dict_get(pd, "_keys"), 1), "@"),
          "%s: state kept: training, _parameters {*: 5, @: 7}, _keys in order", what);
    printf("ok   %s: %s with %zu state entries\n", what, cls ? cls : "?", ow_pickle_len(pd));
}

static void expect_refused(const pk *p, ow_status want, const char *word, const char *what) {
    ow_pickle *pick;
    const ow_pickle_value *root;
    ow_error err = {0};
    ow_status s = run(p, &pick, &root, &err);
    CHECK(s == want && strstr(err.message, word), "%s: status %d (want %d), message '%s' should name '%s'", what, s, want,
          err.message, word);
    printf("ok   %s refused: %s\n", what, err.message);
    ow_pickle_free(pick);
}

int main(void) {
    pk p;
    ow_pickle *pick;
    const ow_pickle_value *root;
    ow_error err = {0};

    /* torch >= 1.6 zip layout: {"string_to_param": NEWOBJ(ParameterDict, ()) BUILD(state)}, memoised. */
    start(&p);
    op(&p, '}'); str(&p, "string_to_param");
    parameter_dict(&p); op(&p, ')'); op(&p, 0x81); op(&p, 'q'); op(&p, 9);
    state(&p); op(&p, 'b');
    op(&p, 's');
    str(&p, "again"); op(&p, 'h'); op(&p, 9); op(&p, 's');
    op(&p, '.');
    CHECK(run(&p, &pick, &root, &err) == OW_OK, "zip layout: %s", err.message);
    check_module_state(ow_pickle_dict_get(root, "string_to_param"), "NEWOBJ + BUILD");
    CHECK(ow_pickle_dict_get(root, "again") == ow_pickle_dict_get(root, "string_to_param"), "memo gives the same instance");
    CHECK(ow_pickle_module_class(root) == NULL, "a plain dict names no class");
    ow_pickle_free(pick);

    /* Legacy stream: the class arrives as the persistent id ('module', cls, source file, source). */
    start(&p);
    op(&p, '('); str(&p, "module"); parameter_dict(&p); str(&p, "/torch/nn/modules/container.py");
    str(&p, "class ParameterDict(Module): ..."); op(&p, 't'); op(&p, 'Q');
    op(&p, ')'); op(&p, 0x81); state(&p); op(&p, 'b'); op(&p, '.');
    CHECK(run(&p, &pick, &root, &err) == OW_OK, "legacy layout: %s", err.message);
    check_module_state(root, "legacy ('module', ...) persistent id");
    ow_pickle_free(pick);

    /* Refusals. */
    start(&p); parameter_dict(&p); op(&p, ')'); op(&p, 'R'); op(&p, '.');
    expect_refused(&p, OW_ERR_FORMAT, "ParameterDict", "calling ParameterDict(...)");
    start(&p); parameter_dict(&p); op(&p, 'K'); op(&p, 1); op(&p, 0x85); op(&p, 0x81); op(&p, '.');
    expect_refused(&p, OW_ERR_FORMAT, "arguments", "NEWOBJ with arguments");
    start(&p); parameter_dict(&p); op(&p, ')'); op(&p, 0x81); state(&p); op(&p, 'b'); state(&p); op(&p, 'b'); op(&p, '.');
    expect_refused(&p, OW_ERR_FORMAT, "twice", "two BUILDs");
    start(&p); parameter_dict(&p); op(&p, ')'); op(&p, 0x81); op(&p, ']'); op(&p, 'b'); op(&p, '.');
    expect_refused(&p, OW_ERR_FORMAT, "list", "a list as state");
    start(&p); parameter_dict(&p); op(&p, ')'); op(&p, 0x81); op(&p, 'q'); op(&p, 1); op(&p, 'h'); op(&p, 1); op(&p, 'b'); op(&p, '.');
    expect_refused(&p, OW_ERR_FORMAT, "ParameterDict", "the instance as its own state");
    start(&p); parameter_dict(&p); op(&p, ')'); op(&p, 0x81); str(&p, "*"); op(&p, 'K'); op(&p, 1); op(&p, 's'); op(&p, '.');
    expect_refused(&p, OW_ERR_FORMAT, "SETITEM", "SETITEM on the instance");
    start(&p); parameter_dict(&p); op(&p, ')'); op(&p, 0x81); op(&p, '('); str(&p, "*"); op(&p, 'K'); op(&p, 1); op(&p, 'u'); op(&p, '.');
    expect_refused(&p, OW_ERR_FORMAT, "SETITEMS", "SETITEMS on the instance");
    /* A call smuggled into the state, and a bare function in a hook dict. */
    start(&p); parameter_dict(&p); op(&p, ')'); op(&p, 0x81);
    op(&p, '}'); str(&p, "payload"); global(&p, "os", "system"); str(&p, "touch /tmp/x"); op(&p, 0x85); op(&p, 'R'); op(&p, 's');
    op(&p, 'b'); op(&p, '.');
    expect_refused(&p, OW_ERR_UNSAFE, "os.system", "os.system called from the state");
    start(&p); parameter_dict(&p); op(&p, ')'); op(&p, 0x81);
    op(&p, '}'); str(&p, "_forward_hooks"); op(&p, '}'); op(&p, 'K'); op(&p, 0); global(&p, "builtins", "eval"); op(&p, 's'); op(&p, 's');
    op(&p, 'b'); op(&p, '.');
    expect_refused(&p, OW_ERR_UNSAFE, "builtins.eval", "a function in a hook dict");
    /* Other module classes, in either layout. */
    start(&p); global(&p, "torch.nn.modules.container", "ModuleDict"); op(&p, ')'); op(&p, 0x81); op(&p, '.');
    expect_refused(&p, OW_ERR_UNSAFE, "torch.nn.modules.container.ModuleDict", "ModuleDict");
    start(&p); global(&p, "torch.nn.modules.linear", "Linear"); op(&p, ')'); op(&p, 0x81); op(&p, '.');
    expect_refused(&p, OW_ERR_UNSAFE, "torch.nn.modules.linear.Linear", "Linear");
    start(&p); op(&p, '('); str(&p, "module"); global(&p, "collections", "OrderedDict"); str(&p, "f"); str(&p, "s"); op(&p, 't');
    op(&p, 'Q'); op(&p, '.');
    expect_refused(&p, OW_ERR_UNSUPPORTED, "nn.Module", "a ('module', OrderedDict, ...) persistent id");
    start(&p); op(&p, '('); str(&p, "module"); parameter_dict(&p); str(&p, "f"); op(&p, 't'); op(&p, 'Q'); op(&p, '.');
    expect_refused(&p, OW_ERR_UNSUPPORTED, "nn.Module", "a 3-item ('module', ...) persistent id");
    CHECK_DONE();
}
