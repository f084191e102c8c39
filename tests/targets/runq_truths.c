/*
 * runq_truths.c - a libah program whose run-queue delay is known, the target of
 * tests/collector/test_report_runq.c. Prints "ready" once its threads exist and have raised an
 * event (so that the kernel view tags them from the attach), waits for a line on stdin, runs,
 * prints "done" and waits for stdin to close (or 60 s).
 *
 *   runq_truths [SPIN_CB]  two threads pinned to the same CPU (the last online one), both
 *                          SCHED_RR at priority 1, each run SPIN_CB (default 40) SPIN callbacks
 *                          that spin 10 ms of thread CPU time: they share one CPU, so each one
 *                          waits in the run queue while the other runs its round-robin quantum
 *                          (sched_rr_timeslice_ms, 100 ms by default), and nothing of normal
 *                          priority cuts in between (see test_report_runq.c for why). Meanwhile
 *                          a third thread (normal priority), pinned to another CPU when there
 *                          is one, runs 100 NAP callbacks that sleep 2 ms each in nanosleep():
 *                          each wakeup waits only for a CPU with nothing of ours on it.
 *                          Exits with status 4 when it may not pin or raise a thread.
 */
#define _GNU_SOURCE
#include <ah.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;
static int spin_type, nap_type;
static long spin_callbacks = 40;
static sem_t warm, go;

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
        exit(4);
}

/* A thread's libah state exists from its first event: the kernel view can read it then. */
static void warm_up(void)
{
    ah_resource_t r;
    ah_init(&r, ah_type("WARM"), 0);
    ah_before(&r);
    ah_after(&r);
    ah_destroy(&r);
    ah_flush();
}

static void *spinner(void *arg)
{
    pin((int)(long)arg);
    struct sched_param sp = {.sched_priority = 1};
    if (pthread_setschedparam(pthread_self(), SCHED_RR, &sp) != 0)
        exit(4);
    warm_up();
    sem_post(&warm);
    sem_wait(&go);
    for (long i = 0; i < spin_callbacks; i++) {
        ah_resource_t r;
        ah_init(&r, spin_type, 0);
        ah_before(&r);
        uint64_t end = thread_cpu_ns() + 10000000ull;
        while (thread_cpu_ns() < end)
            for (int k = 0; k < 1000; k++)
                sink += (uint64_t)k;
        ah_after(&r);
        ah_destroy(&r);
    }
    ah_flush();
    return NULL;
}

static void *napper(void *arg)
{
    long cpu = (long)arg;
    if (cpu >= 0)
        pin((int)cpu);
    warm_up();
    sem_post(&warm);
    sem_wait(&go);
    for (int i = 0; i < 100; i++) {
        ah_resource_t r;
        ah_init(&r, nap_type, 0);
        ah_before(&r);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        ah_after(&r);
        ah_destroy(&r);
    }
    ah_flush();
    return NULL;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1)
        spin_callbacks = atol(argv[1]);
    spin_type = ah_type("SPIN");
    nap_type = ah_type("NAP");
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    long spin_cpu = ncpu > 0 ? ncpu - 1 : 0;
    long nap_cpu = ncpu > 1 ? 0 : -1;
    sem_init(&warm, 0, 0);
    sem_init(&go, 0, 0);
    pthread_t th[3];
    pthread_create(&th[0], NULL, spinner, (void *)spin_cpu);
    pthread_create(&th[1], NULL, spinner, (void *)spin_cpu);
    pthread_create(&th[2], NULL, napper, (void *)nap_cpu);
    for (int i = 0; i < 3; i++)
        sem_wait(&warm);
    warm_up();
    puts("ready");
    getchar();
    for (int i = 0; i < 3; i++)
        sem_post(&go);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    ah_flush();
    puts("done");
    alarm(60);
    while (getchar() != EOF)
        ;
    return 0;
}
