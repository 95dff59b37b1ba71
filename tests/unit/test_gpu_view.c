/* test_gpu_view.c - the GPU view without a GPU: NVML's process lists
 * decoded at every entry size a driver has written (including the R535
 * 32-byte trap, caught by the pid sanity check), the fake libnvidia-ml
 * loaded through VOXFIT_NVML_LIB (devices, memory v1/v2, utilization,
 * init failures), the table and JSON of `voxfit gpu`, and the /proc
 * readers (command lines, resident memory, process groups, meminfo). */
#include "vf_test.h"

#include "core/str.h"
#include "gpu/nvml.h"
#include "ops/gpuview.h"
#include "ops/proc.h"

#include <libgen.h>
#include <signal.h>
#include <unistd.h>

static char fake_lib[1024];

static void find_fake(void) {
    char bin[1024];
    snprintf(bin, sizeof bin, "%s", VF_BIN);
    snprintf(fake_lib, sizeof fake_lib, "%s/tests/fakenvml/libnvidia-ml.so.1", dirname(bin));
}

/* n entries of the given size with pid@0, used@8, gi/ci@16/20 = none */
static void put_entries(uint8_t *buf, int stride, const uint32_t *pids, const uint64_t *used, int n) {
    memset(buf, 0, (size_t)stride * (size_t)n);
    for (int i = 0; i < n; i++) {
        uint8_t *e = buf + (size_t)i * (size_t)stride;
        memcpy(e, &pids[i], 4);
        memcpy(e + 8, &used[i], 8);
        if (stride >= 24) {
            uint32_t none = 0xFFFFFFFFu;
            memcpy(e + 16, &none, 4);
            memcpy(e + 20, &none, 4);
        }
    }
}

static void test_decode_strides(void **state) {
    (void)state;
    static uint8_t buf[32 * 80];
    const uint32_t pids[3] = {1234, 5678, 91011};
    const uint64_t used[3] = {5ull << 30, 1ull << 30, UINT64_MAX};
    struct vf_nvml_device_info info;

    /* the common case: 24-byte entries read as 24 */
    memset(&info, 0, sizeof info);
    info.total_bytes = 80ull << 30;
    put_entries(buf, 24, pids, used, 3);
    vf__nvml_decode_procs(buf, 3, 24, false, 0, &info);
    assert_int_equal(info.n_procs, 3);
    assert_int_equal(info.proc_stride, 24);
    assert_false(info.proc_stride_switched);
    assert_int_equal(info.procs[1].pid, 5678);
    assert_true(info.procs[0].used_bytes == 5ull << 30);
    assert_true(info.procs[2].used_bytes == UINT64_MAX);

    /* R535: 32-byte entries where 24 were expected; entry 1 read at offset
     * 24 has pid 0 (the ccProtected field), so the decoder switches */
    memset(&info, 0, sizeof info);
    info.total_bytes = 80ull << 30;
    put_entries(buf, 32, pids, used, 3);
    vf__nvml_decode_procs(buf, 3, 24, false, 0, &info);
    assert_int_equal(info.n_procs, 3);
    assert_int_equal(info.proc_stride, 32);
    assert_true(info.proc_stride_switched);
    assert_int_equal(info.procs[2].pid, 91011);
    assert_int_equal(info.proc_status, VF_NVML_PROCS_OK);

    /* the other way round: 24-byte data when the symbols suggested 32 */
    memset(&info, 0, sizeof info);
    info.total_bytes = 80ull << 30;
    put_entries(buf, 24, pids, used, 3);
    vf__nvml_decode_procs(buf, 3, 32, false, 0, &info);
    assert_int_equal(info.proc_stride, 24);
    assert_true(info.proc_stride_switched);
    assert_int_equal(info.procs[1].pid, 5678);

    /* v1: 16-byte entries, tried alone */
    memset(&info, 0, sizeof info);
    put_entries(buf, 16, pids, used, 3);
    vf__nvml_decode_procs(buf, 3, 16, true, 0, &info);
    assert_int_equal(info.n_procs, 3);
    assert_true(info.procs[0].graphics);

    /* nothing sane: pids above pid_max at every size */
    memset(&info, 0, sizeof info);
    const uint32_t bad[3] = {4000000000u, 0, 7};
    put_entries(buf, 24, bad, used, 3);
    vf__nvml_decode_procs(buf, 3, 24, false, 4194304, &info);
    assert_int_equal(info.n_procs, 0);
    assert_int_equal(info.proc_status, VF_NVML_PROCS_GARBLED);

    /* memory above the device is not a process entry either */
    memset(&info, 0, sizeof info);
    info.total_bytes = 1ull << 30;
    put_entries(buf, 24, pids, used, 2);
    vf__nvml_decode_procs(buf, 2, 24, false, 0, &info);
    assert_int_equal(info.proc_status, VF_NVML_PROCS_GARBLED);

    /* duplicates once; more than VF_NVML_MAX_PROCS counted as dropped */
    memset(&info, 0, sizeof info);
    uint32_t many[70];
    uint64_t mu[70];
    for (int i = 0; i < 70; i++) {
        many[i] = (uint32_t)(100 + (i == 69 ? 0 : i));
        mu[i] = 1 << 20;
    }
    put_entries(buf, 24, many, mu, 70);
    vf__nvml_decode_procs(buf, 70, 24, false, 0, &info);
    assert_int_equal(info.n_procs, VF_NVML_MAX_PROCS);
    assert_int_equal(info.n_procs_dropped, 5);
}

static void test_fake_nvml(void **state) {
    (void)state;
    char err[512], procs[128];
    struct vf_nvml *nv = NULL;
    setenv("VOXFIT_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
    assert_int_equal(vf_nvml_open(&nv, err, sizeof err), VF_ERR_NOTFOUND);
    assert_null(nv);
    assert_non_null(strstr(err, "no NVIDIA driver"));

    setenv("VOXFIT_NVML_LIB", fake_lib, 1);
    setenv("FAKE_NVML_MODE", "initfail", 1);
    assert_int_equal(vf_nvml_open(&nv, err, sizeof err), VF_ERR_BACKEND);
    assert_non_null(strstr(err, "not loaded"));
    setenv("FAKE_NVML_MODE", "mismatch", 1);
    assert_int_equal(vf_nvml_open(&nv, err, sizeof err), VF_ERR_BACKEND);
    assert_non_null(strstr(err, "reboot"));

    setenv("FAKE_NVML_MODE", "ok", 1);
    snprintf(procs, sizeof procs, "%d:5368709120,1:1048576", (int)getpid());
    setenv("FAKE_NVML_PROCS", procs, 1);
    assert_int_equal(vf_nvml_open(&nv, err, sizeof err), VF_OK);
    assert_string_equal(vf_nvml_driver_version(nv), "580.159.04");
    assert_int_equal(vf_nvml_device_count(nv), 2);
    struct vf_nvml_device_info *info = malloc(sizeof *info);
    assert_int_equal(vf_nvml_device_info(nv, 0, info), VF_OK);
    assert_string_equal(info->name, "NVIDIA H100 80GB HBM3");
    assert_true(info->total_bytes == 85520809984ull);
    assert_true(info->reserved_bytes == 503316480ull);
    assert_true(info->used_bytes == 5368709120ull + 1048576);
    assert_true(info->free_bytes == 85520809984ull - 503316480ull - 5368709120ull - 1048576);
    assert_int_equal(info->util_gpu, 37);
    assert_int_equal(info->temperature_c, 41);
    assert_int_equal(info->cc_major, 9);
    assert_int_equal(info->n_procs, 2);
    assert_int_equal((int)info->procs[0].pid, (int)getpid());
    assert_int_equal(info->proc_stride, 24);
    assert_int_equal(vf_nvml_device_info(nv, 1, info), VF_OK);
    assert_int_equal(info->n_procs, 0);
    assert_int_equal(vf_nvml_device_info(nv, 5, info), VF_ERR_BACKEND);

    /* the R535 trap: 32-byte entries from the v3 call */
    setenv("FAKE_NVML_MODE", "trap32", 1);
    assert_int_equal(vf_nvml_device_info(nv, 0, info), VF_OK);
    assert_int_equal(info->n_procs, 2);
    assert_int_equal(info->proc_stride, 32);
    assert_true(info->proc_stride_switched);
    assert_int_equal((int)info->procs[1].pid, 1);

    /* no memory v2: v1's used includes the reserved memory */
    setenv("FAKE_NVML_MODE", "v1mem", 1);
    assert_int_equal(vf_nvml_device_info(nv, 0, info), VF_OK);
    assert_true(info->reserved_bytes == 0);
    assert_true(info->used_bytes == 503316480ull + 5368709120ull + 1048576);
    free(info);
    vf_nvml_close(nv);
    vf_nvml_close(NULL);
    setenv("FAKE_NVML_MODE", "ok", 1);
}

static char *render(const struct vf_gpuview *v, int width) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    vf_gpuview_print(f, v, width);
    fclose(f);
    return text;
}

static void test_view(void **state) {
    (void)state;
    char err[512], procs[128];
    setenv("VOXFIT_NVML_LIB", fake_lib, 1);
    setenv("FAKE_NVML_MODE", "trap32", 1);
    snprintf(procs, sizeof procs, "%d:2147483648,%d:1073741824", (int)getpid(), (int)getppid());
    setenv("FAKE_NVML_PROCS", procs, 1);
    struct vf_nvml *nv = NULL;
    assert_int_equal(vf_nvml_open(&nv, err, sizeof err), VF_OK);
    struct vf_gpuview v;
    assert_int_equal(vf_gpuview_snapshot(nv, &v), VF_OK);
    assert_int_equal(v.n_gpus, 2);
    assert_non_null(strstr(v.gpus[0].cmd[0], "test_gpu_view"));
    char *text = render(&v, 0);
    assert_non_null(strstr(text, "NVIDIA H100 80GB HBM3"));
    assert_non_null(strstr(text, "81559 MiB"));   /* nvidia-smi's total */
    assert_non_null(strstr(text, "81079 MiB"));   /* what CUDA sees */
    assert_non_null(strstr(text, "2048 MiB"));
    assert_non_null(strstr(text, "test_gpu_view"));
    assert_non_null(strstr(text, "R535"));
    free(text);
    text = render(&v, 44);               /* a narrow terminal cuts command lines */
    int cut = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        if (strstr(line, "...")) {
            assert_true(strlen(line) <= 44);
            cut++;
        }
    assert_true(cut >= 1);
    free(text);
    cJSON *j = vf_gpuview_json(&v);
    assert_non_null(j);
    cJSON *g0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "gpus"), 0);
    assert_int_equal((int)cJSON_GetObjectItem(g0, "process_entry_bytes")->valuedouble, 32);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(g0, "process_entry_size_corrected")));
    cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(g0, "processes"), 0);
    assert_int_equal((int)cJSON_GetObjectItem(p0, "pid")->valuedouble, (int)getpid());
    assert_non_null(strstr(cJSON_GetObjectItem(p0, "command")->valuestring, "test_gpu_view"));
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "system"), "total_bytes")->valuedouble > 0);
    cJSON_Delete(j);
    vf_gpuview_free(&v);

    /* allocation failures leave nothing behind */
    for (long k = 0; k < 3; k++) {
        vf_alloc_fail_after(k);
        int rc = vf_gpuview_snapshot(nv, &v);
        vf_alloc_fail_after(-1);
        assert_true(rc == VF_OK || rc == VF_ERR_NOMEM);
        vf_gpuview_free(&v);
    }
    vf_nvml_close(nv);

    /* no GPU: it says so and shows the system's memory */
    assert_int_equal(vf_gpuview_snapshot(NULL, &v), VF_OK);
    snprintf(v.nvml_error, sizeof v.nvml_error, "NVML not available (x): no NVIDIA driver on this machine");
    text = render(&v, 0);
    assert_non_null(strstr(text, "no NVIDIA GPU"));
    assert_non_null(strstr(text, "system memory"));
    assert_non_null(strstr(text, "RSS"));
    free(text);
    j = vf_gpuview_json(&v);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(j, "nvml")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "gpus")), 0);
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "system"), "top_processes")) > 0);
    cJSON_Delete(j);
    vf_gpuview_free(&v);
    setenv("FAKE_NVML_MODE", "ok", 1);
}

static void test_proc(void **state) {
    (void)state;
    char buf[4096];
    assert_int_equal(vf__proc_cmdline(getpid(), buf, sizeof buf), VF_OK);
    assert_non_null(strstr(buf, "test_gpu_view"));
    char small[12];
    assert_int_equal(vf__proc_cmdline(getpid(), small, sizeof small), VF_OK);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_string_equal(small + sizeof small - 4, "...");
    assert_int_equal(vf__proc_cmdline(0, buf, sizeof buf), VF_ERR_NOTFOUND);
    assert_int_equal(vf__proc_cmdline(2147483, buf, sizeof buf), VF_ERR_NOTFOUND);
    assert_true(vf__proc_rss(getpid()) > 1024 * 1024);
    assert_true(vf__proc_rss(2147483) == 0);
    assert_int_equal(vf__proc_pgrp(getpid()), (int)getpgrp());
    int pids[64];
    int n = vf__proc_group_pids(getpgrp(), pids, 64);
    bool found = false;
    for (int i = 0; i < n && i < 64; i++)
        found |= pids[i] == getpid();
    assert_true(found);
    assert_true(vf__proc_group_rss(getpgrp()) >= vf__proc_rss(getpid()));

    /* meminfo from a file in the kernel's format */
    const char *dir = vf_test_dir("gpu_view");
    char path[600];
    snprintf(path, sizeof path, "%s/meminfo", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "MemTotal:       16384000 kB\nMemFree:         1000000 kB\nMemAvailable:    8192000 kB\n"
               "Buffers:           10000 kB\nCached:           200000 kB\nSwapTotal:       2048000 kB\n"
               "SwapFree:        1024000 kB\n");
    fclose(f);
    setenv("VOXFIT_MEMINFO", path, 1);
    struct vf_meminfo m;
    assert_int_equal(vf__proc_meminfo(&m), VF_OK);
    assert_true(m.total_bytes == 16384000ull * 1024);
    assert_true(m.available_bytes == 8192000ull * 1024);
    assert_true(m.cached_bytes == 210000ull * 1024);
    assert_true(m.swap_free_bytes == 1024000ull * 1024);
    f = fopen(path, "w");
    fprintf(f, "garbage\n");
    fclose(f);
    assert_int_equal(vf__proc_meminfo(&m), VF_ERR_IO);
    unsetenv("VOXFIT_MEMINFO");
    assert_int_equal(vf__proc_meminfo(&m), VF_OK);

    struct vf_proc_rss top[3];
    n = vf__proc_top_rss(top, 3);
    assert_true(n >= 1 && n <= 3);
    for (int i = 1; i < n; i++)
        assert_true(top[i - 1].rss_bytes >= top[i].rss_bytes);
}

int main(void) {
    find_fake();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_strides),
        cmocka_unit_test(test_fake_nvml),
        cmocka_unit_test(test_view),
        cmocka_unit_test(test_proc),
    };
    return cmocka_run_group_tests_name("gpu_view", tests, NULL, NULL);
}
