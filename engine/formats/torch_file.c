/* torch_file.c: torch.save files (zip archives and the legacy pickle stream). */
#include "core/error.h"
#include "formats/tensor_set_private.h"

ow_status ow_torch_zip_read(ow_tensor_set *set, ow_error *err) {
    (void)set;
    return ow_error_set(err, OW_ERR_UNSUPPORTED, "torch zip checkpoints are not supported yet");
}

ow_status ow_torch_legacy_read(ow_tensor_set *set, ow_error *err) {
    (void)set;
    return ow_error_set(err, OW_ERR_UNSUPPORTED, "legacy torch checkpoints are not supported yet");
}
