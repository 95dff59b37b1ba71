/* llm_engine.c - the LLM stage of `voxfit serve` (llm/engine.h: the
 * in-process llama.cpp engine, or its remote relay) as the voice loop's
 * LLM: a chat request becomes a job; the job's text is taken as it comes,
 * polling every 20 ms so an abort (barge-in) cancels the job - and frees
 * its KV cells - within one poll. The context a conversation may use comes
 * from the engine's status (the planner's n_ctx per sequence). */
#include "engines.h"
#include "llm/engine.h"

#include <stdio.h>
#include <string.h>

struct llm_engine {
    struct vf_voice_llm base;
    struct vf_llm *llm;          /* borrowed from serve */
};

static int le_chat(struct vf_voice_llm *base, const struct vf_voice_msg *msgs, int n_msgs,
                   const struct vf_voice_llm_opts *o, vf_voice_text_cb cb, void *ud, char *err,
                   size_t errlen) {
    struct llm_engine *e = (struct llm_engine *)base;
    struct vf_chat_req req;
    memset(&req, 0, sizeof req);
    vf_gen_params_default(&req.gen);
    snprintf(req.model, sizeof req.model, "%s", e->base.model);
    req.stream = true;
    if (o->max_tokens > 0)
        req.gen.max_tokens = o->max_tokens;
    if (o->temperature >= 0)
        req.gen.temperature = o->temperature;
    req.msgs = vf_calloc((size_t)VF_MAX(n_msgs, 1), sizeof *req.msgs);
    if (!req.msgs)
        return VF_ERR_NOMEM;
    req.n_msgs = n_msgs;
    for (int i = 0; i < n_msgs; i++) {
        req.msgs[i].role = vf_strdup(msgs[i].role);
        req.msgs[i].content = vf_strdup(msgs[i].content);
        if (!req.msgs[i].role || !req.msgs[i].content) {
            vf_chat_req_free(&req);
            return VF_ERR_NOMEM;
        }
    }
    struct vf_job *job = NULL;
    struct vf_llm_error le;
    memset(&le, 0, sizeof le);
    int rc = vf_llm_submit(e->llm, &req, &job, &le);
    vf_chat_req_free(&req);
    if (rc || !job) {
        snprintf(err, errlen, "%s", le.message[0] ? le.message : "the LLM refused the request");
        return VF_ERR_BACKEND;
    }
    if (o->on_submitted)
        o->on_submitted(o->submitted_data);
    rc = VF_OK;
    for (;;) {
        if (o->abort && o->abort(o->abort_data)) {
            vf_job_cancel(job);
            rc = 1;
            break;
        }
        if (!vf_job_wait(job, 20))
            continue;
        struct vf_job_out out;
        memset(&out, 0, sizeof out);
        if (vf_job_take(job, &out)) {
            vf_job_cancel(job);
            rc = VF_ERR_NOMEM;
            break;
        }
        bool stop = false;
        if (out.text && out.len && cb(out.text, out.len, ud)) {
            vf_job_cancel(job);
            rc = 1;
            stop = true;
        }
        vf_free(out.text);
        if (stop)
            break;
        if (out.finish == VF_FINISH_ERROR) {
            snprintf(err, errlen, "%s", out.error.message);
            rc = VF_ERR_BACKEND;
            break;
        }
        if (out.finish == VF_FINISH_CANCELLED) {
            rc = 1;
            break;
        }
        if (out.finish != VF_FINISH_NONE)
            break;
    }
    vf_job_release(job);
    return rc;
}

static void le_free(struct vf_voice_llm *base) { vf_free(base); }

static const struct vf_voice_llm_ops engine_ops = {"engine", le_chat, NULL, le_free};

int vf_voice_llm_engine_init(struct vf_llm *llm, int ctx_tokens, struct vf_voice_llm **out,
                             char *err, size_t errlen) {
    *out = NULL;
    struct llm_engine *e = vf_calloc(1, sizeof *e);
    if (!e)
        return VF_ERR_NOMEM;
    e->base.ops = &engine_ops;
    e->llm = llm;
    struct vf_llm_status *st = vf_calloc(1, sizeof *st);
    if (st) {
        vf_llm_status(llm, st);
        snprintf(e->base.model, sizeof e->base.model, "%s", st->model_id);
        if (ctx_tokens <= 0)
            ctx_tokens = (int)st->n_ctx_seq;
        vf_free(st);
    }
    e->base.ctx_tokens = ctx_tokens > 0 ? ctx_tokens : 4096;
    *out = &e->base;
    return VF_OK;
}
