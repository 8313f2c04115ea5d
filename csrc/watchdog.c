/*
 * fastsnake-watchdog: the supervisor of a one-process server (`supervisor
 * watchdog` in the Caddyfile), as a C program so that supervising costs a few
 * hundred KiB instead of a Python interpreter.
 *
 *     fastsnake-watchdog PROGRAM ARGS...
 *
 * fastsnake binds the listening sockets, puts their numbers in
 * FASTSNAKE_HANDOVER and execs this program, which holds them for as long as
 * it runs: a server process that dies leaves its queued clients waiting
 * instead of refused. The watchdog
 *
 *  - starts PROGRAM in a process group of its own (a terminal's Ctrl+C
 *    reaches the watchdog only, which passes it on once) that gets SIGTERM
 *    if the watchdog dies;
 *  - passes SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1 and SIGUSR2 on to it;
 *  - learns that the server is ready from one byte on a pipe whose write
 *    end is FASTSNAKE_WATCHDOG_READY in the server's environment;
 *  - when the server exits: after a stop signal, with its exit status; with
 *    code 0 (`fastsnake stop` signals the server itself), with 0; before it
 *    was ever ready on the first start (a Caddyfile or an app that does not
 *    load), with its status; otherwise it starts it again after a backoff
 *    (0.5 s doubling to 30 s, back to 0.5 s once a server ran for a minute).
 *
 * Exit status: the server's, 128 + N for a server killed by signal N.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define BACKOFF_FIRST 0.5
#define BACKOFF_MAX 30.0
#define STEADY_SECONDS 60.0

static const int passed_on[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2};
#define PASSED_ON_COUNT (sizeof(passed_on) / sizeof(passed_on[0]))

static volatile sig_atomic_t server_pid = 0;
static volatile sig_atomic_t stopping = 0;

static void pass_on(int signum) {
    if (signum == SIGTERM || signum == SIGINT || signum == SIGQUIT)
        stopping = 1;
    pid_t pid = server_pid;
    if (pid > 0)
        kill(pid, signum);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A line in the format of fastsnake's own log. */
static void log_line(const char *level, const char *text) {
    struct timeval tv;
    struct tm local;
    char stamp[32];
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &local);
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &local);
    fprintf(stderr, "%s,%03ld fastsnake[%d] %s fastsnake.watchdog: %s\n", stamp,
            (long)(tv.tv_usec / 1000), (int)getpid(), level, text);
    fflush(stderr);
}

static int exit_status(int status) {
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1;
}

static void describe(int status, char *out, size_t size) {
    if (WIFSIGNALED(status))
        snprintf(out, size, "was killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(out, size, "exited with code %d", exit_status(status));
}

/* Sleeps, unless a stop signal comes first. */
static void pause_for(double seconds) {
    struct timespec left = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    while (!stopping && nanosleep(&left, &left) < 0 && errno == EINTR) {
    }
}

/* Starts the server with a fresh readiness pipe; returns its pid, or -1. */
static pid_t start(char **argv, int *ready_read) {
    int ready[2];
    if (pipe(ready) < 0) {
        perror("fastsnake-watchdog: pipe");
        return -1;
    }
    fcntl(ready[0], F_SETFD, FD_CLOEXEC);
    fcntl(ready[0], F_SETFL, O_NONBLOCK);
    char number[16];
    snprintf(number, sizeof number, "%d", ready[1]);
    setenv("FASTSNAKE_WATCHDOG_READY", number, 1);

    /* No signal handler may run in the child between fork and exec (it
     * would signal the server's predecessor's pid), nor in the parent before
     * it knows the new pid. */
    sigset_t all, previous;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &previous);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        for (size_t i = 0; i < PASSED_ON_COUNT; i++)
            signal(passed_on[i], SIG_DFL);
        sigprocmask(SIG_SETMASK, &previous, NULL);
        setpgid(0, 0);
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
        if (getppid() != parent)
            _exit(1); /* the watchdog died before prctl took effect */
        execvp(argv[0], argv);
        fprintf(stderr, "fastsnake-watchdog: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (pid > 0)
        server_pid = pid;
    else
        perror("fastsnake-watchdog: fork");
    sigprocmask(SIG_SETMASK, &previous, NULL);
    close(ready[1]);
    *ready_read = ready[0];
    return pid;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: fastsnake-watchdog PROGRAM [ARGS...]\n");
        return 2;
    }
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = pass_on;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < PASSED_ON_COUNT; i++)
        sigaction(passed_on[i], &action, NULL);

    double backoff = BACKOFF_FIRST;
    int ever_ready = 0;
    for (;;) {
        int ready_read = -1;
        double started = now();
        pid_t pid = start(argv + 1, &ready_read);
        if (pid < 0)
            return 1;
        int status = 0;
        while (waitpid(pid, &status, 0) < 0) {
            if (errno != EINTR) {
                perror("fastsnake-watchdog: waitpid");
                return 1;
            }
        }
        server_pid = 0;
        char byte;
        int was_ready = read(ready_read, &byte, 1) == 1;
        close(ready_read);
        if (stopping)
            return exit_status(status);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            return 0;
        if (!was_ready && !ever_ready)
            return exit_status(status); /* it never served: do not loop on it */
        ever_ready |= was_ready;
        if (now() - started >= STEADY_SECONDS)
            backoff = BACKOFF_FIRST;
        char what[96], text[192];
        describe(status, what, sizeof what);
        snprintf(text, sizeof text, "the server process %d %s; starting it again in %.1fs",
                 (int)pid, what, backoff);
        log_line("ERROR", text);
        pause_for(backoff);
        if (stopping)
            return 0;
        backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
    }
}
