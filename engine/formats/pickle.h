/* pickle.h: a restricted pickle reader for torch.save files, and the read-only
 * object tree it builds.
 *
 * The machine never runs code and never imports anything. It builds only
 * None, bools, ints, floats, strings, bytes, lists, tuples, sets, dicts,
 * storages (persistent ids) and tensors. A GLOBAL is accepted only from a fixed
 * allow-list (torch tensor rebuild functions, storage types, OrderedDict,
 * _codecs.encode, torch.Size, set/frozenset, and a few data-only classes that
 * real Stable Diffusion checkpoints contain, kept as opaque OBJECT values whose
 * arguments are discarded); any other global fails with OW_ERR_UNSAFE naming it.
 * One torch module class is admitted as data: torch.nn.ParameterDict (the
 * reference textual-inversion repo saves its embeddings in one). torch.save
 * writes a module as NEWOBJ(cls, ()) + BUILD(state dict); we accept exactly that
 * and build a DICT holding the instance's __dict__ ("_parameters", "_keys",
 * "training", ...; see ow_pickle_module_class), calling nothing. Every global
 * inside the state goes through the same allow-list. Being a dict, its tensors
 * are resolved and named like any others ("string_to_param._parameters.*").
 * Every length, index, count and nesting depth is bounded. */
#ifndef OW_FORMATS_PICKLE_H
#define OW_FORMATS_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"
#include "formats/tensor_set.h"
#include "oneword.h"

typedef enum ow_pickle_kind {
    OW_PICKLE_NONE,
    OW_PICKLE_BOOL,
    OW_PICKLE_INT,     /* fits in int64 */
    OW_PICKLE_BIGINT,  /* a longer integer: ow_pickle_string gives its little-endian two's complement bytes */
    OW_PICKLE_FLOAT,
    OW_PICKLE_STRING,  /* UTF-8 as stored (may contain NUL: use the length) */
    OW_PICKLE_BYTES,
    OW_PICKLE_LIST,
    OW_PICKLE_TUPLE,
    OW_PICKLE_SET,     /* set / frozenset: items in file order */
    OW_PICKLE_DICT,    /* dict / OrderedDict: pairs in insertion order */
    OW_PICKLE_STORAGE, /* a torch storage (persistent id): dtype, key, location, numel */
    OW_PICKLE_TENSOR,  /* a tensor view of a storage */
    OW_PICKLE_GLOBAL,  /* an allowed global itself (e.g. a storage type, torch.float16) */
    OW_PICKLE_OBJECT,  /* an instance of an allowed data-only class; its state is dropped */
} ow_pickle_kind;

typedef struct ow_pickle ow_pickle;             /* owns every value it built */
typedef struct ow_pickle_value ow_pickle_value;

/* Limits of the machine (documented for tests). */
#define OW_PICKLE_MAX_DEPTH 200        /* nesting of containers and MARKs */
#define OW_PICKLE_MAX_STACK (1u << 22) /* stack entries */
#define OW_PICKLE_MAX_MEMO (1u << 22)  /* memo index */

ow_pickle *ow_pickle_new(void);
/* Bytes charged so far to p's allocation budget (values, items, strings, memo, stack):
 * at most 32 MiB + 256 x the pickle bytes read, and 2 GiB in all; past it a run fails
 * with OW_ERR_FORMAT. */
uint64_t ow_pickle_bytes_spent(const ow_pickle *p);
void ow_pickle_free(ow_pickle *p);

/* Runs one pickle starting at data (len bytes available) until STOP; the result
 * is in *root and the bytes used in *used. Values stay owned by p, so several
 * pickles read in sequence (the legacy torch format) share one owner.
 * Fails with OW_ERR_FORMAT (truncated, malformed), OW_ERR_UNSAFE (a global not on
 * the allow-list) or OW_ERR_UNSUPPORTED (a valid opcode we do not handle). */
ow_status ow_pickle_run(ow_pickle *p, const unsigned char *data, size_t len, const ow_pickle_value **root,
                        size_t *used, ow_error *err);

/* ---- read-only access ---- */
ow_pickle_kind ow_pickle_kind_of(const ow_pickle_value *v);
const char *ow_pickle_kind_name(ow_pickle_kind kind);
/* INT and BOOL (0/1); 0 for other kinds. */
int64_t ow_pickle_int(const ow_pickle_value *v);
/* FLOAT, INT, BOOL as double; 0 for other kinds. */
double ow_pickle_float(const ow_pickle_value *v);
/* STRING, BYTES, BIGINT bytes; GLOBAL and OBJECT: "module.name"; NULL for a DICT (also a module's).
 * NUL-terminated; len may be NULL. */
const char *ow_pickle_string(const ow_pickle_value *v, size_t *len);
/* Whether v is a STRING equal to s. */
int ow_pickle_is_string(const ow_pickle_value *v, const char *s);
/* LIST, TUPLE, SET: number of items; DICT: number of pairs; 0 otherwise. */
size_t ow_pickle_len(const ow_pickle_value *v);
/* LIST, TUPLE, SET item i (NULL out of range). */
const ow_pickle_value *ow_pickle_item(const ow_pickle_value *v, size_t i);
/* DICT pair i. */
const ow_pickle_value *ow_pickle_dict_key(const ow_pickle_value *v, size_t i);
const ow_pickle_value *ow_pickle_dict_value(const ow_pickle_value *v, size_t i);
/* DICT value for a string key (the last one, as Python keeps); NULL if absent. */
const ow_pickle_value *ow_pickle_dict_get(const ow_pickle_value *v, const char *key);

/* A DICT that is the state of a module instance (torch.nn.ParameterDict): its class as
 * "torch.nn.modules.container.ParameterDict"; NULL for plain dicts and other values. */
const char *ow_pickle_module_class(const ow_pickle_value *v);

/* TENSOR: its data as an entry (contiguous little-endian bytes, name = the first
 * path it was listed under in the tensor set, "" if none). NULL for other kinds
 * or before the file reader resolved storages. */
const ow_tensor_entry *ow_pickle_tensor(const ow_pickle_value *v);
/* TENSOR or STORAGE: storage location as saved ("cpu", "cuda:0", ...). */
const char *ow_pickle_location(const ow_pickle_value *v);

/* The object tree of a torch file opened with ow_tensor_set_open (NULL for safetensors). */
const ow_pickle_value *ow_tensor_set_pickle_root(const ow_tensor_set *set);

#endif
