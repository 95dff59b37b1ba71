/* test_up_child.c - engine processes under their guard: the exit status
 * and an exec failure come back through the guard, stopping takes the whole
 * process group (an engine's own workers too), an engine that ignores
 * SIGTERM is killed after the grace period, an engine that exits takes its
 * leftover workers with it, and when voxfit itself dies the guard stops
 * the engine (PR_SET_PDEATHSIG). */
#include "vf_test.h"

#include "ops/child.h"

#include <errno.h>
#include <signal.h>
#include <unistd.h>

static bool alive(pid_t p) { return p > 0 && (kill(p, 0) == 0 || errno == EPERM); }

/* Wait up to ms for pid to be gone (reaped or a zombie of someone else). */
static bool gone_within(pid_t p, int ms) {
    for (int i = 0; i < ms / 10; i++) {
        if (!alive(p))
            return true;
        char path[64], st[256] = "";
        snprintf(path, sizeof path, "/proc/%d/stat", (int)p);
        FILE *f = fopen(path, "r");
        if (f) {
            size_t n = fread(st, 1, sizeof st - 1, f);
            st[n] = '\0';
            fclose(f);
            const char *c = strrchr(st, ')');
            if (c && c[1] == ' ' && c[2] == 'Z')
                return true;
        }
        usleep(10000);
    }
    return !alive(p);
}

static pid_t read_pid(const char *path, int ms) {
    for (int i = 0; i < ms / 10; i++) {
        FILE *f = fopen(path, "r");
        if (f) {
            int p = 0;
            int ok = fscanf(f, "%d", &p);
            fclose(f);
            if (ok == 1 && p > 0)
                return p;
        }
        usleep(10000);
    }
    return 0;
}

static void wait_exit(struct vf_child *c, int ms) {
    for (int i = 0; i < ms / 10 && !vf_child_poll(c); i++)
        usleep(10000);
}

static void test_exit_status(void **state) {
    (void)state;
    char *argv[] = {"sh", "-c", "echo hello from $VF_T; exit 3", NULL};
    char *env[] = {"VF_T=the-env", NULL};
    const char *dir = vf_test_dir("up_child");
    char log[600];
    snprintf(log, sizeof log, "%s/out.log", dir);
    struct vf_child_spec s = {argv, env, log, 1000};
    struct vf_child c;
    char err[256];
    assert_int_equal(vf_child_start(&s, &c, err, sizeof err), VF_OK);
    assert_true(c.pid > 0);
    assert_int_equal(getpgid(c.pid) == c.pid || !alive(c.pid), 1);
    wait_exit(&c, 5000);
    assert_true(c.exited);
    assert_true(WIFEXITED(c.wait_status));
    assert_int_equal(WEXITSTATUS(c.wait_status), 3);
    assert_int_equal(c.exec_errno, 0);
    vf_child_stop(&c, 1000);
    vf_child_stop(&c, 1000); /* twice is fine */
    char text[256] = "";
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    assert_non_null(strstr(text, "hello from the-env"));

    char *missing[] = {"/nonexistent/engine-binary", "--flag", NULL};
    s.argv = missing;
    assert_int_equal(vf_child_start(&s, &c, err, sizeof err), VF_OK);
    wait_exit(&c, 5000);
    assert_true(c.exited);
    assert_int_equal(c.exec_errno, ENOENT);
    vf_child_stop(&c, 1000);
}

static void test_group_stop(void **state) {
    (void)state;
    const char *dir = vf_test_dir("up_child_group");
    char cmd[1200], wpid[600];
    snprintf(wpid, sizeof wpid, "%s/worker.pid", dir);
    /* an engine with a worker of its own (same process group) */
    snprintf(cmd, sizeof cmd, "sleep 60 & echo $! > '%s'; wait", wpid);
    char *argv[] = {"sh", "-c", cmd, NULL};
    struct vf_child_spec s = {argv, NULL, NULL, 2000};
    struct vf_child c;
    char err[256];
    assert_int_equal(vf_child_start(&s, &c, err, sizeof err), VF_OK);
    pid_t worker = read_pid(wpid, 5000);
    assert_true(worker > 0);
    assert_int_equal(getpgid(worker), c.pid);
    vf_child_stop(&c, 2000);
    assert_true(c.exited);
    assert_true(gone_within(c.pid, 3000));
    assert_true(gone_within(worker, 3000));

    /* an engine that ignores SIGTERM is killed after the grace period */
    char *stubborn[] = {"sh", "-c", "trap '' TERM; while :; do sleep 0.05; done", NULL};
    s.argv = stubborn;
    s.grace_ms = 300;
    assert_int_equal(vf_child_start(&s, &c, err, sizeof err), VF_OK);
    usleep(100000);
    pid_t pid = c.pid;
    vf_child_stop(&c, 300);
    assert_true(WIFSIGNALED(c.wait_status));
    assert_int_equal(WTERMSIG(c.wait_status), SIGKILL);
    assert_true(gone_within(pid, 3000));

    /* the engine exits: its leftover worker goes too */
    snprintf(cmd, sizeof cmd, "sleep 60 & echo $! > '%s'; exit 0", wpid);
    unlink(wpid);
    char *quits[] = {"sh", "-c", cmd, NULL};
    s.argv = quits;
    assert_int_equal(vf_child_start(&s, &c, err, sizeof err), VF_OK);
    worker = read_pid(wpid, 5000);
    assert_true(worker > 0);
    wait_exit(&c, 8000);
    assert_true(c.exited);
    assert_true(gone_within(worker, 5000));
    vf_child_stop(&c, 1000);
}

static void test_parent_death(void **state) {
    (void)state;
    /* a stand-in for voxfit starts an engine, then dies by SIGKILL: the
     * guard's death signal stops the engine */
    const char *dir = vf_test_dir("up_child_death");
    char epid[600];
    snprintf(epid, sizeof epid, "%s/engine.pid", dir);
    pid_t fake_voxfit = fork();
    assert_true(fake_voxfit >= 0);
    if (fake_voxfit == 0) {
        char *argv[] = {"sleep", "60", NULL};
        struct vf_child_spec s = {argv, NULL, NULL, 500};
        struct vf_child c;
        char err[256];
        if (vf_child_start(&s, &c, err, sizeof err) != VF_OK)
            _exit(1);
        FILE *f = fopen(epid, "w");
        fprintf(f, "%d\n", (int)c.pid);
        fclose(f);
        for (;;)
            pause();
    }
    pid_t engine = read_pid(epid, 5000);
    assert_true(engine > 0);
    assert_true(alive(engine));
    kill(fake_voxfit, SIGKILL);
    int st;
    waitpid(fake_voxfit, &st, 0);
    assert_true(gone_within(engine, 5000));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_status),
        cmocka_unit_test(test_group_stop),
        cmocka_unit_test(test_parent_death),
    };
    return cmocka_run_group_tests_name("up_child", tests, NULL, NULL);
}
