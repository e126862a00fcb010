/*
 * Unit test driver for the counters (status_set_metrics.c, built with
 * -DSS_METRICS_TEST, and again under ThreadSanitizer):
 * tests/test_metrics_unit.py runs each case and reads the JSON exposition
 * it prints.
 *
 *   metrics_unit threads  8 threads counting codes, pairs, sources of the
 *                         configuration (by cell) and other sources (by
 *                         name, claimed under the lock) into one segment
 *                         at once: every count is there, each name once
 *   metrics_unit wait     a name being claimed (lock held, slot written,
 *                         not published) while another thread counts the
 *                         same name: that one waits for the lock and finds
 *                         it; the name is listed once, nothing is "other"
 *   metrics_unit dead     a process killed while it claims a name (the
 *                         lock held, the slot written, not published):
 *                         the next writer claims a slot at once and the
 *                         name is listed once (the segment and the lock,
 *                         an flock(), are shared between processes)
 *   metrics_unit layout   a segment checks as its own layout only
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "status_set_metrics.h"

#define THREADS 8
#define ROUNDS 20000

static ss_metrics_t *seg;
static apr_array_header_t *conf;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static int lock_fd = -1;

static int thread_lock(void *b)
{
    (void)b;
    return pthread_mutex_lock(&mutex);
}

static void thread_unlock(void *b)
{
    (void)b;
    pthread_mutex_unlock(&mutex);
}

static int file_lock(void *b)
{
    (void)b;
    return flock(lock_fd, LOCK_EX);
}

static void file_unlock(void *b)
{
    (void)b;
    flock(lock_fd, LOCK_UN);
}

static const ss_metrics_lock_t threads_lock = { thread_lock, thread_unlock,
                                                NULL };
static const ss_metrics_lock_t process_lock = { file_lock, file_unlock,
                                                NULL };

static void print(apr_pool_t *p)
{
    apr_size_t len;
    char *out = ss_metrics_render(ss_metrics_snapshot(seg, conf, NULL, p),
                                  SS_FORMAT_JSON, p, &len);
    fwrite(out, 1, len, stdout);
}

static ss_series_t named[50], api = { "api", 0 };

static void *worker(void *arg)
{
    unsigned id = (unsigned)(apr_uintptr_t)arg, i;

    for (i = 0; i < ROUNDS; i++) {
        ss_metrics_count(seg, id, 0, 200, 0, NULL, &threads_lock);
        ss_metrics_count(seg, id, 0, 404, 1 + (int)(i % 30), &named[i % 50],
                         &threads_lock);
        ss_metrics_count(seg, id, 0, 503, 0, &api, &threads_lock);
    }
    return NULL;
}

static void *count_same(void *arg)
{
    ss_series_t *s = arg;

    ss_metrics_count(seg, 2, 0, 403, 0, s, &threads_lock);
    return NULL;
}

static pthread_t waiter;
static ss_series_t htaccess = { "/srv/www/.htaccess:3", -1 };

static void start_waiter(ss_metrics_t *m, const char *name)
{
    (void)m;
    (void)name;
    ss_metrics_test_claimed = NULL;
    pthread_create(&waiter, NULL, count_same, &htaccess);
    usleep(100000);           /* it waits for the lock we hold */
}

static void die(ss_metrics_t *m, const char *name)
{
    (void)m;
    (void)name;
    _exit(0);                 /* killed between claim and publish */
}

int main(int argc, char **argv)
{
    apr_pool_t *p;
    pthread_t t[THREADS];
    ss_metrics_room_t room = { 64, 8, 64 };
    apr_size_t size = ss_metrics_size(&room);
    void *mem;
    unsigned i;

    if (argc != 2) {
        return 2;
    }
    apr_initialize();
    apr_pool_create(&p, NULL);
    mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
               -1, 0);
    if (mem == MAP_FAILED) {
        return 3;
    }
    seg = ss_metrics_init(mem, &room, 0);
    conf = apr_array_make(p, 2, sizeof(ss_series_t *));
    APR_ARRAY_PUSH(conf, ss_series_t *) = &api;
    if (!strcmp(argv[1], "threads")) {
        for (i = 0; i < 50; i++) {
            /* two of them are sources of the configuration, with cells;
             * the others are counted by name */
            named[i].label = apr_psprintf(p, "site.conf:%u", i);
            named[i].cell = i < 2 ? (int)i + 1 : -1;
            if (i < 2) {
                APR_ARRAY_PUSH(conf, ss_series_t *) = &named[i];
            }
        }
        for (i = 0; i < THREADS; i++) {
            pthread_create(&t[i], NULL, worker, (void *)(apr_uintptr_t)i);
        }
        for (i = 0; i < THREADS; i++) {
            pthread_join(t[i], NULL);
        }
    }
    else if (!strcmp(argv[1], "wait")) {
        ss_metrics_test_claimed = start_waiter;
        ss_metrics_count(seg, 0, 0, 403, 0, &htaccess, &threads_lock);
        pthread_join(waiter, NULL);
    }
    else if (!strcmp(argv[1], "dead")) {
        pid_t pid;
        int status;
        char path[] = "/tmp/ss-metrics-lock-XXXXXX";

        lock_fd = mkstemp(path);
        unlink(path);
        pid = fork();
        if (pid == 0) {
            ss_metrics_test_claimed = die;
            ss_metrics_count(seg, 0, 0, 403, 0, &htaccess, &process_lock);
            _exit(1);
        }
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            return 4;
        }
        ss_metrics_count(seg, 0, 0, 403, 0, &htaccess, &process_lock);
        ss_metrics_count(seg, 0, 0, 403, 0, &htaccess, &process_lock);
    }
    else if (!strcmp(argv[1], "layout")) {
        ss_metrics_room_t other = { 1000, 8, 64 };
        printf("{\"own\":%d,\"short\":%d,\"other\":%d,\"garbage\":%d}\n",
               ss_metrics_check(mem, size) != NULL,
               ss_metrics_check(mem, size - 64) != NULL,
               ss_metrics_check(mem, ss_metrics_size(&other)) != NULL,
               ss_metrics_check((char *)mem + 64, size - 64) != NULL);
        return 0;
    }
    else {
        return 2;
    }
    print(p);
    return 0;
}
