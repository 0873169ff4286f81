/* pickle.c: the restricted pickle machine (protocols 2-5 as torch.save writes
 * them). It is iterative (a value stack and a mark stack, no recursion), builds
 * only plain data, storages and tensors, and refuses every global that is not on
 * the allow-list below. See pickle.h for the contract. */
#include "formats/pickle_private.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

struct ow_pickle {
    ow_pickle_value **values; /* every value built, freed with p */
    size_t count, cap;
    /* What the machine may spend: every value, item slot, string, memo and stack slot
     * is charged; the total stays below PICKLE_BUDGET_BASE + PICKLE_BUDGET_RATIO x the
     * pickle bytes read so far, and below PICKLE_BUDGET_MAX. A real checkpoint spends a
     * few tens of bytes per pickle byte; a crafted one that makes each opcode copy a
     * large container stops at the budget instead of taking gigabytes and minutes. */
    uint64_t spent;
    uint64_t read;      /* pickle bytes of earlier runs + the current position */
    uint64_t read_done; /* pickle bytes of finished runs */
    int over_budget;
};

#define PICKLE_BUDGET_BASE ((uint64_t)32 << 20)
#define PICKLE_BUDGET_RATIO 256
#define PICKLE_BUDGET_MAX ((uint64_t)2 << 30)

static uint64_t pickle_budget(const ow_pickle *p) {
    uint64_t b = PICKLE_BUDGET_BASE + PICKLE_BUDGET_RATIO * p->read;
    return b < PICKLE_BUDGET_MAX ? b : PICKLE_BUDGET_MAX;
}

/* Charges bytes to p's budget; 0 when it is exhausted (then every later charge fails too). */
static int charge(ow_pickle *p, uint64_t bytes) {
    if (p->over_budget) return 0;
    p->spent += bytes;
    if (p->spent > pickle_budget(p)) { p->over_budget = 1; return 0; }
    return 1;
}

uint64_t ow_pickle_bytes_spent(const ow_pickle *p) { return p ? p->spent : 0; }

/* ---- the allow-list ---- */

enum global_id {
    G_REBUILD_TENSOR_V2 = 1,
    G_REBUILD_TENSOR,
    G_REBUILD_PARAMETER,
    G_REBUILD_PARAMETER_WITH_STATE,
    G_REBUILD_FROM_TYPE_V2,
    G_ORDERED_DICT,
    G_SET,
    G_FROZENSET,
    G_CODECS_ENCODE,
    G_TORCH_SIZE,
    G_STORAGE_TYPE, /* a storage class: used as a persistent-id argument */
    G_TYPE_TOKEN,   /* a class or dtype passed as an argument, never called */
    G_OPAQUE,       /* a data-only class: calling it gives an OBJECT, arguments dropped */
    G_MODULE,       /* a torch module class kept as data: NEWOBJ + BUILD give a DICT of its state */
};

typedef struct { const char *name; int id; ow_dtype dtype; } allowed_global;

static const allowed_global allowed[] = {
    {"torch._utils._rebuild_tensor_v2", G_REBUILD_TENSOR_V2, 0},
    {"torch._utils._rebuild_tensor", G_REBUILD_TENSOR, 0},
    {"torch._utils._rebuild_parameter", G_REBUILD_PARAMETER, 0},
    {"torch._utils._rebuild_parameter_with_state", G_REBUILD_PARAMETER_WITH_STATE, 0},
    {"torch._tensor._rebuild_from_type_v2", G_REBUILD_FROM_TYPE_V2, 0},
    {"collections.OrderedDict", G_ORDERED_DICT, 0},
    {"builtins.set", G_SET, 0},
    {"__builtin__.set", G_SET, 0},
    {"builtins.frozenset", G_FROZENSET, 0},
    {"__builtin__.frozenset", G_FROZENSET, 0},
    {"_codecs.encode", G_CODECS_ENCODE, 0},
    {"torch.Size", G_TORCH_SIZE, 0},
    {"torch.FloatStorage", G_STORAGE_TYPE, OW_DTYPE_F32},
    {"torch.HalfStorage", G_STORAGE_TYPE, OW_DTYPE_F16},
    {"torch.BFloat16Storage", G_STORAGE_TYPE, OW_DTYPE_BF16},
    {"torch.DoubleStorage", G_STORAGE_TYPE, OW_DTYPE_F64},
    {"torch.LongStorage", G_STORAGE_TYPE, OW_DTYPE_I64},
    {"torch.IntStorage", G_STORAGE_TYPE, OW_DTYPE_I32},
    {"torch.ShortStorage", G_STORAGE_TYPE, OW_DTYPE_I16},
    {"torch.CharStorage", G_STORAGE_TYPE, OW_DTYPE_I8},
    {"torch.ByteStorage", G_STORAGE_TYPE, OW_DTYPE_U8},
    {"torch.BoolStorage", G_STORAGE_TYPE, OW_DTYPE_BOOL},
    {"torch.UntypedStorage", G_STORAGE_TYPE, OW_DTYPE_U8},
    {"torch.Tensor", G_TYPE_TOKEN, 0},
    {"torch.nn.parameter.Parameter", G_TYPE_TOKEN, 0},
    {"torch.float32", G_TYPE_TOKEN, 0},
    {"torch.float16", G_TYPE_TOKEN, 0},
    {"torch.bfloat16", G_TYPE_TOKEN, 0},
    {"torch.float64", G_TYPE_TOKEN, 0},
    {"torch.int64", G_TYPE_TOKEN, 0},
    /* Data-only classes found in real Stable Diffusion checkpoints (training state). */
    {"pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint", G_OPAQUE, 0},
    {"numpy.core.multiarray.scalar", G_OPAQUE, 0},
    {"numpy.dtype", G_OPAQUE, 0},
    {"numpy.core.multiarray._reconstruct", G_OPAQUE, 0},
    {"numpy.ndarray", G_OPAQUE, 0},
    /* The reference textual-inversion repo saves string_to_param as this module. Only NEWOBJ with no
     * arguments followed by one BUILD with a plain dict is accepted: that is what torch.save writes for
     * any nn.Module (object.__reduce_ex__(2)), and it means cls.__new__ + __dict__.update(state), which
     * we mirror as a dict holding the state. Its contents pass through this same allow-list. */
    {"torch.nn.modules.container.ParameterDict", G_MODULE, 0},
};

/* ---- values ---- */

ow_pickle *ow_pickle_new(void) { return calloc(1, sizeof(ow_pickle)); }

void ow_pickle_free(ow_pickle *p) {
    if (!p) return;
    for (size_t i = 0; i < p->count; i++) {
        ow_pickle_value *v = p->values[i];
        free(v->str);
        free(v->items);
        free(v->storage.key);
        free(v->storage.location);
        free(v->storage.root_key);
        free(v);
    }
    free(p->values);
    free(p);
}

size_t ow_pickle_value_count(const ow_pickle *p) { return p->count; }
ow_pickle_value *ow_pickle_value_at(ow_pickle *p, size_t i) { return i < p->count ? p->values[i] : NULL; }

static ow_pickle_value *new_value(ow_pickle *p, ow_pickle_kind kind) {
    if (!charge(p, sizeof(ow_pickle_value) + sizeof(ow_pickle_value *))) return NULL;
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        void *grown = realloc(p->values, cap * sizeof *p->values);
        if (!grown) return NULL;
        p->values = grown;
        p->cap = cap;
    }
    ow_pickle_value *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->kind = kind;
    p->values[p->count++] = v;
    return v;
}

static int add_item(ow_pickle *p, ow_pickle_value *c, ow_pickle_value *item) {
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4;
        if (!charge(p, (cap - c->cap) * sizeof *c->items)) return -1;
        void *grown = realloc(c->items, cap * sizeof *c->items);
        if (!grown) return -1;
        c->items = grown;
        c->cap = cap;
    }
    c->items[c->count++] = item;
    if (item->depth + 1 > c->depth) c->depth = item->depth + 1;
    return 0;
}

static char *copy_bytes(ow_pickle *p, const void *src, size_t n) {
    if (!charge(p, (uint64_t)n + 1)) return NULL;
    char *s = malloc(n + 1);
    if (!s) return NULL;
    if (n) memcpy(s, src, n);
    s[n] = 0;
    return s;
}

/* ---- the machine ---- */

typedef struct machine {
    ow_pickle *p;
    const unsigned char *data;
    size_t len, pos;
    ow_pickle_value **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t nmarks, marks_cap;
    ow_pickle_value **memo;
    size_t memo_cap, memo_count; /* memo_count: filled slots (MEMOIZE stores at this index, as Python does) */
    ow_error *err;
} machine;

#define FAIL(status, ...) ow_error_set(m->err, status, __VA_ARGS__)
#define OOM() out_of_memory(m)

/* An allocation failed: the budget (a hostile file) or the system (out of memory). */
static ow_status out_of_memory(machine *m) {
    if (m->p->over_budget)
        return ow_error_set(m->err, OW_ERR_FORMAT,
                            "pickle builds more than %" PRIu64 " MB of values from %" PRIu64
                            " bytes (corrupt or hostile file; a checkpoint needs far less)",
                            pickle_budget(m->p) >> 20, m->p->read);
    return ow_error_set(m->err, OW_ERR_OUT_OF_MEMORY, "out of memory reading a pickle");
}

static ow_status need(machine *m, size_t n, const char *what) {
    if (n > m->len - m->pos)
        return FAIL(OW_ERR_FORMAT, "pickle truncated: %s needs %zu bytes at offset %zu, only %zu left", what, n, m->pos,
                    m->len - m->pos);
    return OW_OK;
}

static uint64_t read_le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static ow_status push(machine *m, ow_pickle_value *v) {
    if (!v) return OOM();
    if (v->depth > OW_PICKLE_MAX_DEPTH)
        return FAIL(OW_ERR_FORMAT, "pickle nests containers more than %d levels deep (corrupt or hostile file)",
                    OW_PICKLE_MAX_DEPTH);
    if (m->sp == m->stack_cap) {
        if (m->stack_cap >= OW_PICKLE_MAX_STACK)
            return FAIL(OW_ERR_FORMAT, "pickle stack grows past %u entries (corrupt or hostile file)",
                        OW_PICKLE_MAX_STACK);
        size_t cap = m->stack_cap ? m->stack_cap * 2 : 64;
        if (!charge(m->p, (cap - m->stack_cap) * sizeof *m->stack)) return OOM();
        void *grown = realloc(m->stack, cap * sizeof *m->stack);
        if (!grown) return OOM();
        m->stack = grown;
        m->stack_cap = cap;
    }
    m->stack[m->sp++] = v;
    return OW_OK;
}

static ow_status pop(machine *m, ow_pickle_value **out, const char *op) {
    size_t floor = m->nmarks ? m->marks[m->nmarks - 1] : 0;
    if (m->sp <= floor) return FAIL(OW_ERR_FORMAT, "pickle opcode %s at offset %zu pops an empty stack", op, m->pos);
    *out = m->stack[--m->sp];
    return OW_OK;
}

static ow_status top(machine *m, ow_pickle_value **out, const char *op) {
    size_t floor = m->nmarks ? m->marks[m->nmarks - 1] : 0;
    if (m->sp <= floor) return FAIL(OW_ERR_FORMAT, "pickle opcode %s at offset %zu reads an empty stack", op, m->pos);
    *out = m->stack[m->sp - 1];
    return OW_OK;
}

/* Pops the topmost mark: items are stack[*first .. sp). */
static ow_status pop_mark(machine *m, size_t *first, const char *op) {
    if (!m->nmarks) return FAIL(OW_ERR_FORMAT, "pickle opcode %s at offset %zu has no MARK", op, m->pos);
    *first = m->marks[--m->nmarks];
    return OW_OK;
}

static ow_status memo_put(machine *m, uint64_t index, ow_pickle_value *v) {
    if (index >= OW_PICKLE_MAX_MEMO)
        return FAIL(OW_ERR_FORMAT, "pickle memo index %" PRIu64 " is too large (corrupt file)", index);
    if (index >= m->memo_cap) {
        size_t cap = m->memo_cap ? m->memo_cap : 64;
        while (cap <= index) cap *= 2;
        if (!charge(m->p, (cap - m->memo_cap) * sizeof *m->memo)) return OOM();
        void *grown = realloc(m->memo, cap * sizeof *m->memo);
        if (!grown) return OOM();
        memset((ow_pickle_value **)grown + m->memo_cap, 0, (cap - m->memo_cap) * sizeof *m->memo);
        m->memo = grown;
        m->memo_cap = cap;
    }
    if (!m->memo[index]) m->memo_count++;
    m->memo[index] = v;
    return OW_OK;
}

static ow_status memo_get(machine *m, uint64_t index) {
    if (index >= m->memo_cap || !m->memo[index])
        return FAIL(OW_ERR_FORMAT, "pickle refers to memo entry %" PRIu64 " that was never stored (corrupt file)",
                    index);
    return push(m, m->memo[index]);
}

static ow_pickle_value *tuple_of(machine *m, ow_pickle_value **items, size_t n) {
    ow_pickle_value *t = new_value(m->p, OW_PICKLE_TUPLE);
    if (!t) return NULL;
    for (size_t i = 0; i < n; i++)
        if (add_item(m->p, t, items[i]) != 0) return NULL;
    return t;
}

static ow_status push_string(machine *m, ow_pickle_kind kind, uint64_t n, const char *what) {
    ow_status s = need(m, n, what);
    if (s != OW_OK) return s;
    ow_pickle_value *v = new_value(m->p, kind);
    if (!v || !(v->str = copy_bytes(m->p, m->data + m->pos, (size_t)n))) return OOM();
    v->len = (size_t)n;
    m->pos += (size_t)n;
    return push(m, v);
}

static ow_status push_long(machine *m, uint64_t n) {
    ow_status s = need(m, n, "LONG");
    if (s != OW_OK) return s;
    const unsigned char *b = m->data + m->pos;
    m->pos += (size_t)n;
    if (n <= 8) {
        uint64_t u = n ? read_le(b, (int)n) : 0;
        if (n && n < 8 && (b[n - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * n); /* sign-extend */
        ow_pickle_value *v = new_value(m->p, OW_PICKLE_INT);
        if (!v) return OOM();
        memcpy(&v->i, &u, sizeof u);
        return push(m, v);
    }
    if (n > 4096) return FAIL(OW_ERR_UNSUPPORTED, "pickle integer of %" PRIu64 " bytes is too long", n);
    ow_pickle_value *v = new_value(m->p, OW_PICKLE_BIGINT);
    if (!v || !(v->str = copy_bytes(m->p, b, (size_t)n))) return OOM();
    v->len = (size_t)n;
    return push(m, v);
}

static ow_status push_global(machine *m, const char *module, size_t mlen, const char *name, size_t nlen) {
    char full[512];
    if (mlen + nlen + 2 > sizeof full) return FAIL(OW_ERR_FORMAT, "pickle global name is too long (%zu bytes)", mlen + nlen);
    memcpy(full, module, mlen);
    full[mlen] = '.';
    memcpy(full + mlen + 1, name, nlen);
    full[mlen + 1 + nlen] = 0;
    if (strlen(full) != mlen + 1 + nlen) return FAIL(OW_ERR_FORMAT, "pickle global name contains a NUL byte");
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        if (strcmp(allowed[i].name, full) != 0) continue;
        ow_pickle_value *v = new_value(m->p, OW_PICKLE_GLOBAL);
        if (!v || !(v->str = copy_bytes(m->p, full, strlen(full)))) return OOM();
        v->len = strlen(full);
        v->global_id = allowed[i].id;
        v->dtype = allowed[i].dtype;
        return push(m, v);
    }
    /* Make the name printable in the message (it may be binary garbage). */
    for (char *c = full; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f) *c = '?';
    if (strstr(full, "Storage") && strncmp(full, "torch.", 6) == 0)
        return FAIL(OW_ERR_UNSUPPORTED, "the file stores tensors of type %s, which oneword does not read", full);
    return FAIL(OW_ERR_UNSAFE,
                "the file asks Python to call '%s', which is not a tensor rebuild function; oneword never runs "
                "code from a checkpoint, so the file was not loaded (convert it to .safetensors with a tool you trust)",
                full);
}

static int is_int(const ow_pickle_value *v) { return v && v->kind == OW_PICKLE_INT; }

static int is_sequence(const ow_pickle_value *v) {
    return v && (v->kind == OW_PICKLE_TUPLE || v->kind == OW_PICKLE_LIST);
}

static int string_is(const ow_pickle_value *v, const char *s) {
    return v && (v->kind == OW_PICKLE_STRING || v->kind == OW_PICKLE_BYTES) && v->len == strlen(s) &&
           memcmp(v->str, s, v->len) == 0;
}

/* (storage, storage_offset, size, stride, ...) -> TENSOR, range-checked against the storage. */
static ow_status rebuild_tensor(machine *m, ow_pickle_value *args, ow_pickle_value **out) {
    if (args->count < 4) return FAIL(OW_ERR_FORMAT, "tensor rebuild call has %zu arguments, expected at least 4", args->count);
    ow_pickle_value *storage = args->items[0], *offset = args->items[1], *size = args->items[2], *stride = args->items[3];
    if (storage->kind != OW_PICKLE_STORAGE)
        return FAIL(OW_ERR_FORMAT, "tensor rebuild call gets a %s instead of a storage", ow_pickle_kind_name(storage->kind));
    if (!is_int(offset) || offset->i < 0 || !is_sequence(size) || !is_sequence(stride) || size->count != stride->count)
        return FAIL(OW_ERR_FORMAT, "tensor rebuild call has a malformed offset, size or stride");
    if (size->count > OW_TENSOR_MAX_DIMS)
        return FAIL(OW_ERR_UNSUPPORTED, "tensor has %zu dimensions (at most %d supported)", size->count, OW_TENSOR_MAX_DIMS);
    ow_pickle_value *t = new_value(m->p, OW_PICKLE_TENSOR);
    if (!t) return OOM();
    ow_pickle_tensor_view *tv = &t->tensor;
    tv->storage = storage;
    tv->offset = offset->i;
    tv->ndim = (int)size->count;
    int empty = 0;
    for (int d = 0; d < tv->ndim; d++) {
        ow_pickle_value *a = size->items[d], *b = stride->items[d];
        if (!is_int(a) || !is_int(b) || a->i < 0 || b->i < 0)
            return FAIL(OW_ERR_FORMAT, "tensor size/stride entries must be integers >= 0");
        tv->size[d] = a->i;
        tv->stride[d] = b->i;
        if (a->i == 0) empty = 1;
    }
    if (!empty) {
        /* Last element index = offset + sum((size - 1) * stride), overflow-checked. */
        int64_t last = tv->offset;
        for (int d = 0; d < tv->ndim; d++) {
            int64_t step;
            if (__builtin_mul_overflow(tv->size[d] - 1, tv->stride[d], &step) || __builtin_add_overflow(last, step, &last))
                return FAIL(OW_ERR_FORMAT, "tensor size and stride overflow (corrupt file)");
        }
        if (last >= storage->storage.numel)
            return FAIL(OW_ERR_FORMAT,
                        "tensor reaches element %" PRId64 " of a storage of %" PRId64 " elements (corrupt file)", last,
                        storage->storage.numel);
    }
    *out = t;
    return OW_OK;
}

static ow_status call_global(machine *m, ow_pickle_value *fn, ow_pickle_value *args, ow_pickle_value **out, int nested);

static ow_status call_global(machine *m, ow_pickle_value *fn, ow_pickle_value *args, ow_pickle_value **out, int nested) {
    if (!args) return OOM();
    if (fn->kind != OW_PICKLE_GLOBAL)
        return FAIL(OW_ERR_FORMAT, "pickle calls a %s, which is not callable", ow_pickle_kind_name(fn->kind));
    if (args->kind != OW_PICKLE_TUPLE)
        return FAIL(OW_ERR_FORMAT, "pickle calls %s with a %s instead of an argument tuple", fn->str,
                    ow_pickle_kind_name(args->kind));
    size_t n = args->count;
    ow_pickle_value **a = args->items;
    switch (fn->global_id) {
    case G_REBUILD_TENSOR_V2:
    case G_REBUILD_TENSOR:
        return rebuild_tensor(m, args, out);
    case G_REBUILD_PARAMETER:
    case G_REBUILD_PARAMETER_WITH_STATE:
        if (n < 1 || a[0]->kind != OW_PICKLE_TENSOR) return FAIL(OW_ERR_FORMAT, "%s expects a tensor", fn->str);
        *out = a[0];
        return OW_OK;
    case G_REBUILD_FROM_TYPE_V2:
        /* (func, new_type, args, state): func(*args); the type and state only decorate the tensor. */
        if (nested || n < 3 || a[0]->kind != OW_PICKLE_GLOBAL || a[2]->kind != OW_PICKLE_TUPLE ||
            (a[0]->global_id != G_REBUILD_TENSOR_V2 && a[0]->global_id != G_REBUILD_TENSOR &&
             a[0]->global_id != G_REBUILD_PARAMETER))
            return FAIL(OW_ERR_FORMAT, "%s must wrap a tensor rebuild function", fn->str);
        return call_global(m, a[0], a[2], out, 1);
    case G_ORDERED_DICT: {
        ow_pickle_value *d = new_value(m->p, OW_PICKLE_DICT);
        if (!d) return OOM();
        if (n == 1 && is_sequence(a[0])) { /* OrderedDict([(k, v), ...]) */
            for (size_t i = 0; i < a[0]->count; i++) {
                ow_pickle_value *pair = a[0]->items[i];
                if (!is_sequence(pair) || pair->count != 2) return FAIL(OW_ERR_FORMAT, "OrderedDict item is not a pair");
                if (add_item(m->p, d, pair->items[0]) || add_item(m->p, d, pair->items[1])) return OOM();
            }
        } else if (n != 0) {
            return FAIL(OW_ERR_FORMAT, "OrderedDict called with %zu arguments", n);
        }
        d->count /= 2; /* add_item counted keys and values; dicts count pairs */
        *out = d;
        return OW_OK;
    }
    case G_SET:
    case G_FROZENSET: {
        ow_pickle_value *s = new_value(m->p, OW_PICKLE_SET);
        if (!s) return OOM();
        if (n == 1 && (is_sequence(a[0]) || a[0]->kind == OW_PICKLE_SET)) {
            for (size_t i = 0; i < a[0]->count; i++)
                if (add_item(m->p, s, a[0]->items[i])) return OOM();
        } else if (n != 0) {
            return FAIL(OW_ERR_FORMAT, "set called with unexpected arguments");
        }
        *out = s;
        return OW_OK;
    }
    case G_CODECS_ENCODE: {
        /* _codecs.encode(text, 'latin1'): how protocol 2 stores bytes. */
        if (n != 2 || a[0]->kind != OW_PICKLE_STRING || !(string_is(a[1], "latin1") || string_is(a[1], "latin-1")))
            return FAIL(OW_ERR_FORMAT, "_codecs.encode is only accepted as (str, 'latin1')");
        ow_pickle_value *b = new_value(m->p, OW_PICKLE_BYTES);
        if (!b || !charge(m->p, (uint64_t)a[0]->len + 1) || !(b->str = malloc(a[0]->len + 1))) return OOM();
        const unsigned char *s = (const unsigned char *)a[0]->str;
        size_t k = 0;
        for (size_t i = 0; i < a[0]->len; i++) { /* UTF-8 code points < 256 -> one byte */
            if (s[i] < 0x80) b->str[k++] = (char)s[i];
            else if ((s[i] & 0xfe) == 0xc2 && i + 1 < a[0]->len && (s[i + 1] & 0xc0) == 0x80) {
                b->str[k++] = (char)(((s[i] & 0x03) << 6) | (s[i + 1] & 0x3f));
                i++;
            } else
                return FAIL(OW_ERR_FORMAT, "_codecs.encode text is not latin-1");
        }
        b->str[k] = 0;
        b->len = k;
        *out = b;
        return OW_OK;
    }
    case G_TORCH_SIZE:
        if (n == 0) { *out = tuple_of(m, NULL, 0); return *out ? OW_OK : OOM(); }
        if (n != 1 || !is_sequence(a[0])) return FAIL(OW_ERR_FORMAT, "torch.Size expects one tuple");
        *out = tuple_of(m, a[0]->items, a[0]->count);
        return *out ? OW_OK : OOM();
    case G_OPAQUE: {
        ow_pickle_value *o = new_value(m->p, OW_PICKLE_OBJECT);
        if (!o || !(o->str = copy_bytes(m->p, fn->str, fn->len))) return OOM();
        o->len = fn->len;
        o->global_id = fn->global_id;
        *out = o;
        return OW_OK;
    }
    default:
        return FAIL(OW_ERR_FORMAT, "pickle calls %s, which is a type, not a function", fn->str);
    }
}

/* BINPERSID: ('storage', storage_type, key, location, numel[, view_metadata]). */
static ow_status persistent_load(machine *m, ow_pickle_value *pid, ow_pickle_value **out) {
    if (pid->kind != OW_PICKLE_TUPLE || pid->count < 1)
        return FAIL(OW_ERR_FORMAT, "pickle persistent id is not a tuple");
    ow_pickle_value **a = pid->items;
    if (string_is(a[0], "module")) {
        /* The legacy stream saves a module's class as ('module', cls, source file, source text); torch.load
         * only compares the text with the installed class (for a warning) and uses cls. Accepted for the
         * module classes on the allow-list (the text is ignored); any other class was refused as a global. */
        if (pid->count == 4 && a[1]->kind == OW_PICKLE_GLOBAL && a[1]->global_id == G_MODULE) {
            *out = a[1];
            return OW_OK;
        }
        return FAIL(OW_ERR_UNSUPPORTED, "the file pickles a whole nn.Module; save its state_dict() instead");
    }
    if (!string_is(a[0], "storage") || (pid->count != 5 && pid->count != 6))
        return FAIL(OW_ERR_FORMAT, "pickle persistent id is not a ('storage', ...) tuple");
    ow_pickle_value *type = a[1], *key = a[2], *location = a[3], *numel = a[4];
    if (type->kind != OW_PICKLE_GLOBAL || type->global_id != G_STORAGE_TYPE)
        return FAIL(OW_ERR_FORMAT, "storage persistent id has no storage type");
    if (!(key->kind == OW_PICKLE_STRING || key->kind == OW_PICKLE_BYTES || key->kind == OW_PICKLE_INT) ||
        !(location->kind == OW_PICKLE_STRING || location->kind == OW_PICKLE_BYTES) || !is_int(numel) || numel->i < 0)
        return FAIL(OW_ERR_FORMAT, "storage persistent id has a malformed key, location or size");
    ow_pickle_value *s = new_value(m->p, OW_PICKLE_STORAGE);
    if (!s) return OOM();
    char keybuf[32];
    const char *k = key->str;
    size_t klen = key->len;
    if (key->kind == OW_PICKLE_INT) {
        klen = (size_t)snprintf(keybuf, sizeof keybuf, "%" PRId64, key->i);
        k = keybuf;
    }
    s->storage.key = copy_bytes(m->p, k, klen);
    s->storage.location = copy_bytes(m->p, location->str, location->len);
    if (!s->storage.key || !s->storage.location) return OOM();
    s->storage.dtype = type->dtype;
    s->storage.numel = numel->i;
    if (pid->count == 6 && a[5]->kind != OW_PICKLE_NONE) {
        /* Legacy view: (view_key, offset, view_size) into the storage named key. */
        ow_pickle_value *view = a[5];
        if (view->kind != OW_PICKLE_TUPLE || view->count != 3 || !is_int(view->items[1]) || !is_int(view->items[2]) ||
            view->items[0]->kind != OW_PICKLE_STRING || view->items[1]->i < 0 || view->items[2]->i < 0)
            return FAIL(OW_ERR_FORMAT, "storage view metadata is malformed");
        int64_t end;
        if (__builtin_add_overflow(view->items[1]->i, view->items[2]->i, &end) || end > numel->i)
            return FAIL(OW_ERR_FORMAT, "storage view runs past its storage");
        s->storage.root_key = s->storage.key;
        s->storage.key = copy_bytes(m->p, view->items[0]->str, view->items[0]->len);
        if (!s->storage.key) return OOM();
        s->storage.view_offset = view->items[1]->i;
        s->storage.numel = view->items[2]->i;
    }
    *out = s;
    return OW_OK;
}

/* BUILD on a module instance: Module.__setstate__ is __dict__.update(state); we keep the
 * state's pairs in the instance's dict. Exactly one BUILD with a plain dict is accepted. */
static ow_status build_module(machine *m, ow_pickle_value *obj, ow_pickle_value *state) {
    if (state->kind != OW_PICKLE_DICT || state->global_id == G_MODULE)
        return FAIL(OW_ERR_FORMAT, "pickle gives a %s a %s as its state; torch.save writes a dict", obj->str,
                    state->global_id == G_MODULE ? state->str : ow_pickle_kind_name(state->kind));
    if (obj->i) return FAIL(OW_ERR_FORMAT, "pickle sets the state of a %s twice", obj->str);
    obj->i = 1;
    obj->count *= 2;
    for (size_t i = 0; i < 2 * state->count; i++)
        if (add_item(m->p, obj, state->items[i])) { obj->count /= 2; return OOM(); }
    obj->count /= 2;
    if (obj->depth > OW_PICKLE_MAX_DEPTH)
        return FAIL(OW_ERR_FORMAT, "pickle nests containers more than %d levels deep", OW_PICKLE_MAX_DEPTH);
    return OW_OK;
}

static const char *opname(int op) {
    static char buf[8];
    snprintf(buf, sizeof buf, "0x%02x", op);
    return buf;
}

ow_status ow_pickle_run(ow_pickle *p, const unsigned char *data, size_t len, const ow_pickle_value **root, size_t *used,
                        ow_error *err) {
    machine mm = {.p = p, .data = data, .len = len, .err = err};
    machine *m = &mm;
    ow_status s = OW_OK;
    *root = NULL;
    if (used) *used = 0;
    for (;;) {
        if (m->pos >= m->len) { s = FAIL(OW_ERR_FORMAT, "pickle ends at offset %zu without STOP (truncated file)", m->pos); break; }
        size_t at = m->pos;
        p->read = p->read_done + m->pos + 1;
        int op = m->data[m->pos++];
        ow_pickle_value *v = NULL, *w = NULL, *x = NULL;
        size_t first = 0;
        switch (op) {
        case 0x80: /* PROTO */
            if ((s = need(m, 1, "PROTO")) != OW_OK) break;
            if (m->data[m->pos] > 5) s = FAIL(OW_ERR_UNSUPPORTED, "pickle protocol %d is newer than 5", m->data[m->pos]);
            m->pos++;
            break;
        case 0x95: /* FRAME: an 8-byte length; the frame's opcodes follow inline */
            if ((s = need(m, 8, "FRAME")) != OW_OK) break;
            if (read_le(m->data + m->pos, 8) > m->len - m->pos - 8) s = FAIL(OW_ERR_FORMAT, "pickle frame runs past the end (truncated file)");
            m->pos += 8;
            break;
        case '.': { /* STOP */
            if ((s = pop(m, &v, "STOP")) != OW_OK) break;
            if (m->nmarks) { s = FAIL(OW_ERR_FORMAT, "pickle stops with an open MARK"); break; }
            *root = v;
            if (used) *used = m->pos;
            p->read_done += m->pos;
            goto done;
        }
        case '}': s = push(m, new_value(p, OW_PICKLE_DICT)); break;
        case ']': s = push(m, new_value(p, OW_PICKLE_LIST)); break;
        case ')': s = push(m, new_value(p, OW_PICKLE_TUPLE)); break;
        case 0x8f: s = push(m, new_value(p, OW_PICKLE_SET)); break; /* EMPTY_SET */
        case 'N': s = push(m, new_value(p, OW_PICKLE_NONE)); break;
        case 0x88: case 0x89: /* NEWTRUE, NEWFALSE */
            v = new_value(p, OW_PICKLE_BOOL);
            if (v) v->i = op == 0x88;
            s = push(m, v);
            break;
        case '(': /* MARK */
            if (m->nmarks >= OW_PICKLE_MAX_DEPTH) { s = FAIL(OW_ERR_FORMAT, "pickle opens more than %d nested MARKs (corrupt or hostile file)", OW_PICKLE_MAX_DEPTH); break; }
            if (m->nmarks == m->marks_cap) {
                size_t cap = m->marks_cap ? m->marks_cap * 2 : 16;
                void *grown = realloc(m->marks, cap * sizeof *m->marks);
                if (!grown) { s = OOM(); break; }
                m->marks = grown;
                m->marks_cap = cap;
            }
            m->marks[m->nmarks++] = m->sp;
            break;
        case 'X': case 0x8c: case 0x8d: case 'B': case 'C': case 0x8e: case 'T': case 'U': {
            int width = (op == 0x8c || op == 'C' || op == 'U') ? 1 : (op == 0x8d || op == 0x8e) ? 8 : 4;
            if ((s = need(m, (size_t)width, "string length")) != OW_OK) break;
            uint64_t n = read_le(m->data + m->pos, width);
            m->pos += (size_t)width;
            ow_pickle_kind kind = (op == 'B' || op == 'C' || op == 0x8e) ? OW_PICKLE_BYTES : OW_PICKLE_STRING;
            s = push_string(m, kind, n, "string");
            break;
        }
        case 'q': case 'r': { /* BINPUT, LONG_BINPUT */
            int width = op == 'q' ? 1 : 4;
            if ((s = need(m, (size_t)width, "BINPUT")) != OW_OK) break;
            uint64_t index = read_le(m->data + m->pos, width);
            m->pos += (size_t)width;
            if ((s = top(m, &v, "BINPUT")) != OW_OK) break;
            s = memo_put(m, index, v);
            break;
        }
        case 0x94: /* MEMOIZE */
            if ((s = top(m, &v, "MEMOIZE")) != OW_OK) break;
            s = memo_put(m, m->memo_count, v);
            break;
        case 'h': case 'j': { /* BINGET, LONG_BINGET */
            int width = op == 'h' ? 1 : 4;
            if ((s = need(m, (size_t)width, "BINGET")) != OW_OK) break;
            uint64_t index = read_le(m->data + m->pos, width);
            m->pos += (size_t)width;
            s = memo_get(m, index);
            break;
        }
        case 'J': case 'K': case 'M': { /* BININT, BININT1, BININT2 */
            int width = op == 'J' ? 4 : op == 'K' ? 1 : 2;
            if ((s = need(m, (size_t)width, "BININT")) != OW_OK) break;
            uint64_t u = read_le(m->data + m->pos, width);
            m->pos += (size_t)width;
            v = new_value(p, OW_PICKLE_INT);
            if (v) v->i = op == 'J' ? (int64_t)(int32_t)(uint32_t)u : (int64_t)u;
            s = push(m, v);
            break;
        }
        case 0x8a: case 0x8b: { /* LONG1, LONG4 */
            int width = op == 0x8a ? 1 : 4;
            if ((s = need(m, (size_t)width, "LONG")) != OW_OK) break;
            uint64_t n = read_le(m->data + m->pos, width);
            m->pos += (size_t)width;
            s = push_long(m, n);
            break;
        }
        case 'G': { /* BINFLOAT: big-endian double */
            if ((s = need(m, 8, "BINFLOAT")) != OW_OK) break;
            uint64_t u = 0;
            for (int i = 0; i < 8; i++) u = (u << 8) | m->data[m->pos + (size_t)i];
            m->pos += 8;
            v = new_value(p, OW_PICKLE_FLOAT);
            if (v) memcpy(&v->f, &u, 8);
            s = push(m, v);
            break;
        }
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            size_t n = (size_t)(op - 0x84);
            size_t floor = m->nmarks ? m->marks[m->nmarks - 1] : 0;
            if (m->sp - floor < n) { s = FAIL(OW_ERR_FORMAT, "pickle TUPLE%zu at offset %zu lacks items", n, at); break; }
            v = tuple_of(m, m->stack + m->sp - n, n);
            m->sp -= n;
            s = push(m, v);
            break;
        }
        case 't': case 'l': /* TUPLE, LIST */
            if ((s = pop_mark(m, &first, op == 't' ? "TUPLE" : "LIST")) != OW_OK) break;
            v = new_value(p, op == 't' ? OW_PICKLE_TUPLE : OW_PICKLE_LIST);
            for (size_t i = first; v && i < m->sp; i++)
                if (add_item(m->p, v, m->stack[i])) v = NULL;
            m->sp = first;
            s = push(m, v);
            break;
        case 'd': /* DICT */
            if ((s = pop_mark(m, &first, "DICT")) != OW_OK) break;
            if ((m->sp - first) % 2) { s = FAIL(OW_ERR_FORMAT, "pickle DICT has an odd number of items"); break; }
            v = new_value(p, OW_PICKLE_DICT);
            for (size_t i = first; v && i < m->sp; i++)
                if (add_item(m->p, v, m->stack[i])) v = NULL;
            if (v) v->count /= 2;
            m->sp = first;
            s = push(m, v);
            break;
        case 's': /* SETITEM */
            if ((s = pop(m, &w, "SETITEM")) != OW_OK || (s = pop(m, &x, "SETITEM")) != OW_OK ||
                (s = top(m, &v, "SETITEM")) != OW_OK)
                break;
            if (v->kind != OW_PICKLE_DICT || v->global_id == G_MODULE) { s = FAIL(OW_ERR_FORMAT, "pickle SETITEM on a %s", v->global_id == G_MODULE ? v->str : ow_pickle_kind_name(v->kind)); break; }
            v->count *= 2;
            if (add_item(m->p, v, x) || add_item(m->p, v, w)) s = OOM();
            v->count /= 2;
            if (s == OW_OK && v->depth > OW_PICKLE_MAX_DEPTH) s = FAIL(OW_ERR_FORMAT, "pickle nests containers more than %d levels deep", OW_PICKLE_MAX_DEPTH);
            break;
        case 'u': /* SETITEMS */
            if ((s = pop_mark(m, &first, "SETITEMS")) != OW_OK) break;
            if (first == 0 || (m->nmarks && first <= m->marks[m->nmarks - 1])) { s = FAIL(OW_ERR_FORMAT, "pickle SETITEMS has no dict"); break; }
            v = m->stack[first - 1];
            if (v->kind != OW_PICKLE_DICT || v->global_id == G_MODULE || (m->sp - first) % 2) { s = FAIL(OW_ERR_FORMAT, "pickle SETITEMS on a %s or with an odd item count", v->global_id == G_MODULE ? v->str : ow_pickle_kind_name(v->kind)); break; }
            v->count *= 2;
            for (size_t i = first; i < m->sp && s == OW_OK; i++)
                if (add_item(m->p, v, m->stack[i])) s = OOM();
            v->count /= 2;
            m->sp = first;
            if (s == OW_OK && v->depth > OW_PICKLE_MAX_DEPTH) s = FAIL(OW_ERR_FORMAT, "pickle nests containers more than %d levels deep", OW_PICKLE_MAX_DEPTH);
            break;
        case 'a': /* APPEND */
            if ((s = pop(m, &w, "APPEND")) != OW_OK || (s = top(m, &v, "APPEND")) != OW_OK) break;
            if (v->kind != OW_PICKLE_LIST) { s = FAIL(OW_ERR_FORMAT, "pickle APPEND to a %s", ow_pickle_kind_name(v->kind)); break; }
            if (add_item(m->p, v, w)) s = OOM();
            else if (v->depth > OW_PICKLE_MAX_DEPTH) s = FAIL(OW_ERR_FORMAT, "pickle nests containers more than %d levels deep (corrupt or hostile file)", OW_PICKLE_MAX_DEPTH);
            break;
        case 'e': case 0x90: /* APPENDS, ADDITEMS */
            if ((s = pop_mark(m, &first, "APPENDS")) != OW_OK) break;
            if (first == 0 || (m->nmarks && first <= m->marks[m->nmarks - 1])) { s = FAIL(OW_ERR_FORMAT, "pickle APPENDS has no list"); break; }
            v = m->stack[first - 1];
            if (v->kind != (op == 'e' ? OW_PICKLE_LIST : OW_PICKLE_SET)) { s = FAIL(OW_ERR_FORMAT, "pickle APPENDS to a %s", ow_pickle_kind_name(v->kind)); break; }
            for (size_t i = first; i < m->sp && s == OW_OK; i++)
                if (add_item(m->p, v, m->stack[i])) s = OOM();
            m->sp = first;
            if (s == OW_OK && v->depth > OW_PICKLE_MAX_DEPTH) s = FAIL(OW_ERR_FORMAT, "pickle nests containers more than %d levels deep", OW_PICKLE_MAX_DEPTH);
            break;
        case 0x91: /* FROZENSET */
            if ((s = pop_mark(m, &first, "FROZENSET")) != OW_OK) break;
            v = new_value(p, OW_PICKLE_SET);
            for (size_t i = first; v && i < m->sp; i++)
                if (add_item(m->p, v, m->stack[i])) v = NULL;
            m->sp = first;
            s = push(m, v);
            break;
        case '0': s = pop(m, &v, "POP"); break;
        case '1': s = pop_mark(m, &first, "POP_MARK"); if (s == OW_OK) m->sp = first; break;
        case '2': if ((s = top(m, &v, "DUP")) == OW_OK) s = push(m, v); break;
        case 'c': { /* GLOBAL "module\nname\n" */
            const char *start = (const char *)m->data + m->pos;
            size_t room = m->len - m->pos, cap = room < 512 ? room : 512;
            const char *nl1 = memchr(start, '\n', cap);
            const char *nl2 = nl1 ? memchr(nl1 + 1, '\n', cap - (size_t)(nl1 + 1 - start)) : NULL;
            if (!nl2) { s = FAIL(OW_ERR_FORMAT, "pickle GLOBAL at offset %zu is not two short lines (truncated?)", at); break; }
            s = push_global(m, start, (size_t)(nl1 - start), nl1 + 1, (size_t)(nl2 - nl1 - 1));
            m->pos += (size_t)(nl2 + 1 - start);
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            if ((s = pop(m, &w, "STACK_GLOBAL")) != OW_OK || (s = pop(m, &x, "STACK_GLOBAL")) != OW_OK) break;
            if (w->kind != OW_PICKLE_STRING || x->kind != OW_PICKLE_STRING) { s = FAIL(OW_ERR_FORMAT, "pickle STACK_GLOBAL needs two strings"); break; }
            s = push_global(m, x->str, x->len, w->str, w->len);
            break;
        case 'R': /* REDUCE */
            if ((s = pop(m, &w, "REDUCE")) != OW_OK || (s = pop(m, &x, "REDUCE")) != OW_OK) break;
            if ((s = call_global(m, x, w, &v, 0)) != OW_OK) break;
            s = push(m, v);
            break;
        case 0x81: case 0x92: /* NEWOBJ, NEWOBJ_EX: cls.__new__(cls, *args) */
            if (op == 0x92 && (s = pop(m, &w, "NEWOBJ_EX")) != OW_OK) break;
            if ((s = pop(m, &w, "NEWOBJ")) != OW_OK || (s = pop(m, &x, "NEWOBJ")) != OW_OK) break;
            if (x->kind != OW_PICKLE_GLOBAL ||
                (x->global_id != G_OPAQUE && x->global_id != G_ORDERED_DICT && x->global_id != G_MODULE)) {
                s = FAIL(OW_ERR_FORMAT, "pickle NEWOBJ on %s, which is not a data class", x->kind == OW_PICKLE_GLOBAL ? x->str : ow_pickle_kind_name(x->kind));
                break;
            }
            if (x->global_id == G_MODULE) {
                /* cls.__new__(cls): an instance with an empty __dict__, filled by one BUILD. */
                if (w->kind != OW_PICKLE_TUPLE || w->count != 0) {
                    s = FAIL(OW_ERR_FORMAT, "pickle creates a %s with arguments; torch.save writes none", x->str);
                    break;
                }
                v = new_value(p, OW_PICKLE_DICT);
                if (!v || !(v->str = copy_bytes(m->p, x->str, x->len))) { s = OOM(); break; }
                v->len = x->len;
                v->global_id = G_MODULE;
            } else if (x->global_id == G_ORDERED_DICT) v = new_value(p, OW_PICKLE_DICT);
            else if ((s = call_global(m, x, tuple_of(m, NULL, 0), &v, 0)) != OW_OK) break; /* arguments dropped */
            s = push(m, v);
            break;
        case 'b': /* BUILD: a module instance keeps its state; otherwise it is dropped (OrderedDict _metadata, object attributes) */
            if ((s = pop(m, &w, "BUILD")) != OW_OK || (s = top(m, &v, "BUILD")) != OW_OK) break;
            if (v->kind == OW_PICKLE_DICT && v->global_id == G_MODULE) {
                s = build_module(m, v, w);
                break;
            }
            if (v->kind != OW_PICKLE_DICT && v->kind != OW_PICKLE_OBJECT && v->kind != OW_PICKLE_TENSOR)
                s = FAIL(OW_ERR_FORMAT, "pickle BUILD on a %s", ow_pickle_kind_name(v->kind));
            break;
        case 'Q': /* BINPERSID */
            if ((s = pop(m, &w, "BINPERSID")) != OW_OK) break;
            if ((s = persistent_load(m, w, &v)) != OW_OK) break;
            s = push(m, v);
            break;
        case 'I': case 'L': case 'S': case 'V': case 'F': case 'p': case 'g': case 'P': case 'i': case 'o':
            s = FAIL(OW_ERR_UNSUPPORTED, "pickle protocol 0 opcode '%c' at offset %zu is not supported (re-save the file with torch >= 1.6)", op, at);
            break;
        case 0x82: case 0x83: case 0x84:
            s = FAIL(OW_ERR_UNSAFE, "pickle extension-registry opcode at offset %zu refers to code by number; the file was not loaded", at);
            break;
        default:
            s = FAIL(OW_ERR_FORMAT, "unknown pickle opcode %s at offset %zu (corrupt file or not a pickle)", opname(op), at);
            break;
        }
        if (s != OW_OK) break;
    }
done:
    free(m->stack);
    free(m->marks);
    free(m->memo);
    return s;
}

/* ---- access ---- */

ow_pickle_kind ow_pickle_kind_of(const ow_pickle_value *v) { return v ? v->kind : OW_PICKLE_NONE; }

const char *ow_pickle_kind_name(ow_pickle_kind kind) {
    static const char *names[] = {"None", "bool", "int", "big int", "float", "str", "bytes", "list", "tuple",
                                  "set", "dict", "storage", "tensor", "global", "object"};
    return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}

int64_t ow_pickle_int(const ow_pickle_value *v) {
    return v && (v->kind == OW_PICKLE_INT || v->kind == OW_PICKLE_BOOL) ? v->i : 0;
}

double ow_pickle_float(const ow_pickle_value *v) {
    if (!v) return 0.0;
    if (v->kind == OW_PICKLE_FLOAT) return v->f;
    if (v->kind == OW_PICKLE_INT || v->kind == OW_PICKLE_BOOL) return (double)v->i;
    return 0.0;
}

const char *ow_pickle_string(const ow_pickle_value *v, size_t *len) {
    if (!v || !v->str || v->kind == OW_PICKLE_DICT) { if (len) *len = 0; return NULL; }
    if (len) *len = v->len;
    return v->str;
}

int ow_pickle_is_string(const ow_pickle_value *v, const char *s) {
    return v && v->kind == OW_PICKLE_STRING && v->len == strlen(s) && memcmp(v->str, s, v->len) == 0;
}

size_t ow_pickle_len(const ow_pickle_value *v) {
    if (!v) return 0;
    switch (v->kind) {
    case OW_PICKLE_LIST: case OW_PICKLE_TUPLE: case OW_PICKLE_SET: case OW_PICKLE_DICT: return v->count;
    default: return 0;
    }
}

const ow_pickle_value *ow_pickle_item(const ow_pickle_value *v, size_t i) {
    if (!v || (v->kind != OW_PICKLE_LIST && v->kind != OW_PICKLE_TUPLE && v->kind != OW_PICKLE_SET) || i >= v->count)
        return NULL;
    return v->items[i];
}

const ow_pickle_value *ow_pickle_dict_key(const ow_pickle_value *v, size_t i) {
    return v && v->kind == OW_PICKLE_DICT && i < v->count ? v->items[2 * i] : NULL;
}

const ow_pickle_value *ow_pickle_dict_value(const ow_pickle_value *v, size_t i) {
    return v && v->kind == OW_PICKLE_DICT && i < v->count ? v->items[2 * i + 1] : NULL;
}

const ow_pickle_value *ow_pickle_dict_get(const ow_pickle_value *v, const char *key) {
    if (!v || v->kind != OW_PICKLE_DICT) return NULL;
    for (size_t i = v->count; i-- > 0;)
        if (ow_pickle_is_string(v->items[2 * i], key)) return v->items[2 * i + 1];
    return NULL;
}

const char *ow_pickle_module_class(const ow_pickle_value *v) {
    return v && v->kind == OW_PICKLE_DICT && v->global_id == G_MODULE ? v->str : NULL;
}

const ow_tensor_entry *ow_pickle_tensor(const ow_pickle_value *v) {
    return v && v->kind == OW_PICKLE_TENSOR && v->tensor.resolved ? &v->tensor.entry : NULL;
}

const char *ow_pickle_location(const ow_pickle_value *v) {
    if (!v) return NULL;
    if (v->kind == OW_PICKLE_TENSOR) v = v->tensor.storage;
    return v && v->kind == OW_PICKLE_STORAGE ? v->storage.location : NULL;
}
