/* resolve.c - turn what the user typed into a model: an existing file or
 * folder is read from its own headers (the format found by its magic
 * bytes or files), anything else is looked up in the catalog. */
#include "catalog.h"
#include "model.h"
#include "../core/reader.h"
#include "../core/str.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int vf_model_resolve(const char *ref, enum vf_role role, const char *engine_hint,
                     struct vf_model *out, char *err, size_t errlen) {
    vf_model_init(out);
    if (!ref || !*ref) {
        vf_errf(err, errlen, "no %s model named", vf_role_name(role));
        return VF_ERR_ARG;
    }
    struct stat st;
    if (stat(ref, &st) != 0) {
        bool looks_path = ref[0] == '/' || ref[0] == '.' || vf_str_ends(ref, ".gguf") ||
                          vf_str_ends(ref, ".safetensors");
        if (looks_path) {
            vf_errf(err, errlen, "%s: %s", ref, strerror(errno));
            return VF_ERR_NOTFOUND;
        }
        return vf_catalog_resolve(ref, role, engine_hint, out, err, errlen);
    }
    int rc;
    char path[1024];
    if (S_ISDIR(st.st_mode)) {
        snprintf(path, sizeof path, "%s/model.bin", ref);
        bool ct2 = file_exists(path);
        snprintf(path, sizeof path, "%s/config.json", ref);
        if (ct2)
            rc = vf_model_from_ct2_dir(ref, out, err, errlen);
        else if (file_exists(path))
            rc = vf_model_from_hf_dir(ref, out, err, errlen);
        else {
            vf_errf(err, errlen, "%s: a folder without config.json or model.bin is not a model", ref);
            return VF_ERR_FORMAT;
        }
    } else {
        struct vf_reader r;
        uint8_t magic[4] = {0};
        if (vf_reader_open(&r, ref)) {
            vf_errf(err, errlen, "cannot open %s: %s", ref, strerror(errno));
            return VF_ERR_IO;
        }
        int mr = vf_reader_read(&r, magic, 4);
        vf_reader_close(&r);
        if (mr) {
            vf_errf(err, errlen, "%s: too short to be a model file", ref);
            return VF_ERR_FORMAT;
        }
        if (!memcmp(magic, "GGUF", 4))
            rc = vf_model_from_gguf(ref, out, err, errlen);
        else if (!memcmp(magic, "lmgg", 4))
            rc = vf_model_from_whisper_bin(ref, out, err, errlen);
        else {
            vf_errf(err, errlen, "%s: unknown model format (not GGUF, not a whisper.cpp file); "
                    "for Hugging Face or CTranslate2 models give the folder", ref);
            return VF_ERR_FORMAT;
        }
    }
    if (rc)
        return rc;
    if (out->role != role) {
        vf_errf(err, errlen, "%s is a %s model, not a %s model", ref, vf_role_name(out->role),
                vf_role_name(role));
        vf_model_free(out);
        return VF_ERR_ARG;
    }
    return VF_OK;
}
