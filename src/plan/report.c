/* report.c - see report.h. */
#include "report.h"
#include "../core/str.h"

#include <string.h>

static const char *kv_name(enum vf_dtype t) {
    switch (t) {
    case VF_DT_F16: return "f16";
    case VF_DT_BF16: return "bf16";
    case VF_DT_F32: return "f32";
    case VF_DT_Q8_0: return "q8_0";
    case VF_DT_Q4_0: return "q4_0";
    case VF_DT_Q4_1: return "q4_1";
    case VF_DT_Q5_0: return "q5_0";
    case VF_DT_Q5_1: return "q5_1";
    case VF_DT_IQ4_NL: return "iq4_nl";
    case VF_DT_F8_E4M3: return "fp8";
    default: return "?";
    }
}

const char *vf_report_model_id(const struct vf_component *c) { return c->model.id; }

void vf_report_flags(const struct vf_component *c, char *buf, size_t n) {
    const struct vf_llama_cfg *l = &c->llama;
    const struct vf_vllm_cfg *v = &c->vllm;
    switch (c->engine) {
    case VF_ENGINE_LLAMACPP:
        snprintf(buf, n, "-c %u -np %u -ngl %d -b %u -ub %u -fa %s -ctk %s -ctv %s%s%s", l->n_ctx,
                 l->n_seq_max, c->placement == VF_PLACE_CPU ? 0 : l->n_gpu_layers < 0 ? 999 : l->n_gpu_layers,
                 l->n_batch, l->n_ubatch,
                 l->flash_attn_resolved ? "on" : "off", kv_name(l->type_k), kv_name(l->type_v),
                 l->kv_unified ? " -kvu" : "", l->mmap ? "" : " --no-mmap");
        break;
    case VF_ENGINE_VLLM:
        snprintf(buf, n, "--gpu-memory-utilization %.3g --max-model-len %u --max-num-seqs %u%s%s",
                 v->gpu_memory_utilization, v->max_model_len, v->max_num_seqs,
                 v->kv_cache_dtype == VF_DT_F8_E4M3 ? " --kv-cache-dtype fp8" : "",
                 v->enforce_eager ? " --enforce-eager" : "");
        break;
    case VF_ENGINE_WHISPER:
        snprintf(buf, n, "--stt %s (%s, beam %u%s)", c->model.name, c->whisper.compute_type,
                 c->whisper.beam_size, c->whisper.on_gpu ? ", GPU" : ", CPU");
        break;
    case VF_ENGINE_FASTER_WHISPER:
        snprintf(buf, n, "WHISPER_MODEL=%s WHISPER_COMPUTE_TYPE=%s (beam %u, %s)", c->model.name,
                 c->whisper.compute_type, c->whisper.beam_size, c->whisper.on_gpu ? "cuda" : "cpu");
        break;
    default:
        snprintf(buf, n, "%s on the %s", c->model.name, c->tts.on_gpu ? "GPU" : "CPU");
        break;
    }
}

static const char *fb(uint64_t v, char *b, size_t n) { return v ? vf_fmt_bytes(v, b, n) : "-"; }

/* Print a box line: text left, value right, inside a fixed width. */
/* Display width of UTF-8 text: code points, not bytes. */
static int text_width(const char *s) {
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void box_line(FILE *f, int width, const char *left, const char *right) {
    int used = text_width(left) + text_width(right);
    fprintf(f, "│  %s%*s%s  │\n", left, width - 4 - used > 0 ? width - 4 - used : 1, "", right);
}

static void box_rule(FILE *f, int width, const char *l, const char *m, const char *r) {
    fputs(l, f);
    for (int i = 0; i < width; i++)
        fputs(m, f);
    fputs(r, f);
    fputc('\n', f);
}

static void box(FILE *f, const struct vf_plan *p) {
    const int W = 52;
    char b[32], left[96], title[192];
    box_rule(f, W, "┌", "─", "┐");
    snprintf(title, sizeof title, "%s - %s", p->device.name, vf_fmt_bytes(p->device.total_bytes, b, sizeof b));
    box_line(f, W, title, "");
    box_rule(f, W, "├", "─", "┤");
    if (p->device.used_by_others) {
        box_line(f, W, "In use by others:", vf_fmt_bytes(p->device.used_by_others, b, sizeof b));
    }
    for (int i = 0; i < VF_PLAN_COMPONENTS; i++) {
        const struct vf_component *c = &p->comp[i];
        if (!c->present)
            continue;
        const char *role = i == VF_ROLE_LLM ? "LLM" : i == VF_ROLE_STT ? "STT" : "TTS";
        if (!c->total_bytes) {
            snprintf(left, sizeof left, "%s %s:", role, c->model.name);
            box_line(f, W, left, "CPU only");
            continue;
        }
        if (c->weights_bytes) {
            vf_fmt_bytes(c->weights_bytes, b, sizeof b);
            /* the model's name, cut (at a character) to fit the line */
            int room = W - 5 - text_width(b) - (int)strlen(role) - (int)strlen(" weights ():");
            const char *nm = c->model.name;
            int w = 0;
            size_t cut = 0;
            while (nm[cut] && w < room) {
                cut++;
                while (((unsigned char)nm[cut] & 0xC0) == 0x80)
                    cut++;
                w++;
            }
            snprintf(left, sizeof left, "%s weights (%.*s%s):", role, (int)(nm[cut] && cut ? cut - 1 : cut),
                     nm, nm[cut] ? "…" : "");
            box_line(f, W, left, b);
        }
        if (c->kv_bytes) {
            snprintf(left, sizeof left, "%s KV cache:", role);
            box_line(f, W, left, vf_fmt_bytes(c->kv_bytes, b, sizeof b));
        }
        if (c->compute_bytes) {
            snprintf(left, sizeof left, "%s compute/activations:", role);
            box_line(f, W, left, vf_fmt_bytes(c->compute_bytes, b, sizeof b));
        }
        if (c->overhead_bytes) {
            snprintf(left, sizeof left, "%s %s:", role,
                     p->device.kind == VF_DEVICE_GPU ? "CUDA context/runtime" : "runtime buffers");
            box_line(f, W, left, vf_fmt_bytes(c->overhead_bytes, b, sizeof b));
        }
    }
    box_line(f, W, "─────────────────────────────", "");
    box_line(f, W, "TOTAL:", vf_fmt_bytes(p->total_bytes, b, sizeof b));
    if (p->free_after_bytes >= 0) {
        snprintf(left, sizeof left, "FREE (margin%s):", p->fits ? "" : ", too small");
        box_line(f, W, left, vf_fmt_bytes((uint64_t)p->free_after_bytes, b, sizeof b));
    } else {
        char neg[40];
        snprintf(neg, sizeof neg, "-%s", vf_fmt_bytes((uint64_t)-p->free_after_bytes, b, sizeof b));
        box_line(f, W, "OVER BY:", neg);
    }
    box_rule(f, W, "└", "─", "┘");
}

void vf_report_text(FILE *f, const struct vf_plan *p, bool explain) {
    char b1[32], b2[32], b3[32], b4[32], b5[32], flags[512];
    fprintf(f, "voxfit plan for %s: %s total, %s free", p->device.name,
            vf_fmt_bytes(p->device.total_bytes, b1, sizeof b1),
            vf_fmt_bytes(p->device.free_bytes, b2, sizeof b2));
    if (p->device.kind == VF_DEVICE_GPU && p->device.cc_major)
        fprintf(f, " (compute capability %d.%d)", p->device.cc_major, p->device.cc_minor);
    fprintf(f, "\n\n%-4s %-40s %-14s %-5s %10s %10s %10s %10s %10s\n", "role", "model", "engine",
            "place", "weights", "KV", "compute", "overhead", "total");
    for (int i = 0; i < VF_PLAN_COMPONENTS; i++) {
        const struct vf_component *c = &p->comp[i];
        if (!c->present)
            continue;
        fprintf(f, "%-4s %-40.40s %-14s %-5s %10s %10s %10s %10s %10s\n", vf_role_name(c->role),
                c->model.id, vf_engine_name(c->engine), vf_placement_name(c->placement),
                fb(c->weights_bytes, b1, sizeof b1), fb(c->kv_bytes, b2, sizeof b2),
                fb(c->compute_bytes, b3, sizeof b3), fb(c->overhead_bytes, b4, sizeof b4),
                vf_fmt_bytes(c->total_bytes, b5, sizeof b5));
    }
    fprintf(f, "\n");
    box(f, p);
    fprintf(f, "\nsettings:\n");
    for (int i = 0; i < VF_PLAN_COMPONENTS; i++) {
        const struct vf_component *c = &p->comp[i];
        if (!c->present)
            continue;
        vf_report_flags(c, flags, sizeof flags);
        fprintf(f, "  %s (%s): %s\n", vf_role_name(c->role), vf_engine_name(c->engine), flags);
        if (c->engine == VF_ENGINE_VLLM && c->vllm.kv_tokens)
            fprintf(f, "    vLLM will report: GPU KV cache size: %llu tokens; maximum concurrency for "
                    "%u tokens per request: %.2fx\n", (unsigned long long)c->vllm.kv_tokens,
                    c->vllm.max_model_len, c->vllm.max_concurrency);
        if (c->host_bytes)
            fprintf(f, "    system RAM: %s\n", vf_fmt_bytes(c->host_bytes, b1, sizeof b1));
        if (explain)
            for (size_t k = 0; k < c->explain.n; k++)
                fprintf(f, "    %s\n", c->explain.v[k]);
    }
    if (explain) {
        fprintf(f, "  total = %s; free %s - total = %s; required margin %s\n",
                vf_fmt_bytes(p->total_bytes, b1, sizeof b1),
                vf_fmt_bytes(p->device.free_bytes, b2, sizeof b2),
                p->free_after_bytes >= 0 ? vf_fmt_bytes((uint64_t)p->free_after_bytes, b3, sizeof b3) : "negative",
                vf_fmt_bytes(p->margin_bytes, b4, sizeof b4));
    }
    for (size_t k = 0; k < p->warnings.n; k++)
        fprintf(f, "warning: %s\n", p->warnings.v[k]);
    for (size_t k = 0; k < p->errors.n; k++)
        fprintf(f, "error: %s\n", p->errors.v[k]);
    for (size_t k = 0; k < p->problems.n; k++)
        fprintf(f, "problem: %s\n", p->problems.v[k]);
    if (p->fits)
        fprintf(f, "\nfits: yes, with %s to spare (margin asked: %s)\n",
                vf_fmt_bytes((uint64_t)p->free_after_bytes, b1, sizeof b1),
                vf_fmt_bytes(p->margin_bytes, b2, sizeof b2));
    else if (p->errors.n)
        fprintf(f, "\nfits: no (see the errors above)\n");
    else
        fprintf(f, "\nfits: no, short by %s (margin asked: %s)\n",
                vf_fmt_bytes((uint64_t)((int64_t)p->margin_bytes - p->free_after_bytes), b1, sizeof b1),
                vf_fmt_bytes(p->margin_bytes, b2, sizeof b2));
}

static void add_u64(cJSON *o, const char *k, uint64_t v) { cJSON_AddNumberToObject(o, k, (double)v); }

static cJSON *settings_json(const struct vf_component *c) {
    cJSON *s = cJSON_CreateObject();
    if (!s)
        return NULL;
    const struct vf_llama_cfg *l = &c->llama;
    const struct vf_vllm_cfg *v = &c->vllm;
    switch (c->engine) {
    case VF_ENGINE_LLAMACPP:
        cJSON_AddNumberToObject(s, "n_gpu_layers", l->n_gpu_layers < 0 ? (double)c->model.llm.n_layer + 1 : (double)l->n_gpu_layers);
        add_u64(s, "n_ctx", l->n_ctx);
        cJSON_AddStringToObject(s, "type_k", kv_name(l->type_k));
        cJSON_AddStringToObject(s, "type_v", kv_name(l->type_v));
        cJSON_AddBoolToObject(s, "flash_attn", l->flash_attn_resolved);
        add_u64(s, "n_batch", l->n_batch);
        add_u64(s, "n_ubatch", l->n_ubatch);
        add_u64(s, "n_seq_max", l->n_seq_max);
        cJSON_AddBoolToObject(s, "kv_unified", l->kv_unified);
        cJSON_AddBoolToObject(s, "mmap", l->mmap);
        add_u64(s, "host_bytes", c->host_bytes);
        break;
    case VF_ENGINE_VLLM:
        cJSON_AddNumberToObject(s, "gpu_memory_utilization", v->gpu_memory_utilization);
        add_u64(s, "max_model_len", v->max_model_len);
        add_u64(s, "max_num_seqs", v->max_num_seqs);
        cJSON_AddStringToObject(s, "kv_cache_dtype", v->kv_cache_dtype == VF_DT_F8_E4M3 ? "fp8" : "auto");
        add_u64(s, "max_num_batched_tokens", v->max_num_batched_tokens);
        add_u64(s, "block_size", v->block_size);
        cJSON_AddBoolToObject(s, "enforce_eager", v->enforce_eager);
        add_u64(s, "kv_cache_tokens", v->kv_tokens);
        cJSON_AddNumberToObject(s, "max_concurrency", v->max_concurrency);
        cJSON_AddNumberToObject(s, "available_kv_cache_bytes", (double)v->available_kv_bytes);
        add_u64(s, "activation_peak_bytes", v->activation_bytes);
        add_u64(s, "non_torch_bytes", v->non_torch_bytes);
        add_u64(s, "cudagraph_bytes", v->cudagraph_bytes);
        add_u64(s, "max_model_len_fit", v->max_model_len_fit);
        if (v->version[0])
            cJSON_AddStringToObject(s, "vllm_version", v->version);
        break;
    case VF_ENGINE_WHISPER:
    case VF_ENGINE_FASTER_WHISPER:
        cJSON_AddStringToObject(s, "model", c->model.name);
        cJSON_AddStringToObject(s, "compute_type", c->whisper.compute_type);
        add_u64(s, "beam_size", c->whisper.beam_size);
        cJSON_AddStringToObject(s, "device", c->whisper.on_gpu ? "cuda" : "cpu");
        break;
    default:
        cJSON_AddStringToObject(s, "device", c->tts.on_gpu ? "gpu" : "cpu");
        cJSON_AddStringToObject(s, "voice", c->tts.voice);
        break;
    }
    return s;
}

static cJSON *strlist_json(const struct vf_strlist *l) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < l->n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(l->v[i]));
    return a;
}

cJSON *vf_report_json(const struct vf_plan *p) {
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON *d = cJSON_AddObjectToObject(root, "device");
    cJSON_AddStringToObject(d, "name", p->device.name);
    cJSON_AddStringToObject(d, "kind", p->device.kind == VF_DEVICE_GPU ? "gpu" : "cpu");
    add_u64(d, "total_bytes", p->device.total_bytes);
    add_u64(d, "free_bytes", p->device.free_bytes);
    cJSON_AddStringToObject(d, "source", p->device.source);
    if (p->device.cc_major) {
        char cc[16];
        snprintf(cc, sizeof cc, "%d.%d", p->device.cc_major, p->device.cc_minor);
        cJSON_AddStringToObject(d, "compute_capability", cc);
    }
    cJSON *comps = cJSON_AddArrayToObject(root, "components");
    for (int i = 0; i < VF_PLAN_COMPONENTS; i++) {
        const struct vf_component *c = &p->comp[i];
        if (!c->present)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "role", vf_role_name(c->role));
        cJSON_AddStringToObject(o, "model", c->model.id);
        cJSON_AddStringToObject(o, "engine", vf_engine_name(c->engine));
        cJSON_AddStringToObject(o, "placement", vf_placement_name(c->placement));
        add_u64(o, "weights_bytes", c->weights_bytes);
        add_u64(o, "kv_bytes", c->kv_bytes);
        add_u64(o, "compute_bytes", c->compute_bytes);
        add_u64(o, "overhead_bytes", c->overhead_bytes);
        add_u64(o, "total_bytes", c->total_bytes);
        add_u64(o, "host_bytes", c->host_bytes);
        cJSON_AddStringToObject(o, "quantization", c->model.quant);
        cJSON_AddItemToObject(o, "settings", settings_json(c));
        cJSON_AddItemToObject(o, "explain", strlist_json(&c->explain));
        cJSON_AddItemToArray(comps, o);
    }
    add_u64(root, "total_bytes", p->total_bytes);
    cJSON_AddNumberToObject(root, "margin_bytes", (double)p->free_after_bytes);
    add_u64(root, "required_margin_bytes", p->margin_bytes);
    cJSON_AddBoolToObject(root, "fits", p->fits);
    cJSON_AddItemToObject(root, "warnings", strlist_json(&p->warnings));
    cJSON_AddItemToObject(root, "errors", strlist_json(&p->errors));
    return root;
}
