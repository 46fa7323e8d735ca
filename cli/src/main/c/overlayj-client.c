/*
 * overlayj-client: the launcher's way to a resident overlayj server (bin/overlayj runs it before any JVM).
 *
 *   overlayj-client RUNDIR JAR mount ARGS...   ask the server to make the mount ARGS name
 *   overlayj-client -x SCRIPT RUNDIR JAR mount ARGS...
 *                                              the same, and where it would exit 111 it runs `bash SCRIPT ARGS...`
 *                                              instead, with OVERLAYJ_ASKED=1 (bin/overlayj's sh part execs this:
 *                                              no fork and no shell waiting for the answer on the shared path)
 *   overlayj-client RUNDIR JAR status          print the mounts the server holds
 *   overlayj-client rundir                     print the user's runtime directory (the default RUNDIR)
 *
 * RUNDIR "-" is that default: $OVERLAYJ_RUNTIME_DIR if set, else $XDG_RUNTIME_DIR/overlayj (when that is a
 * directory we may write), else /run/overlayj/resident for root (when /run is writable), else
 * ${TMPDIR:-/tmp}/overlayj-resident-EUID. The rule lives here only: bin/overlayj's POSIX sh part asks with "-" (it
 * has no $EUID without running id(1)), its bash part asks "rundir".
 *
 * bash cannot open a unix socket, and a JVM (the standalone path) costs a quarter of a second: this is the few
 * system calls in between. The server's socket is RUNDIR/ctl-HASH.sock, HASH of MNTNS-USERNS-JARINO-JARMTIME: one
 * server per mount namespace and user namespace (the mount must be made in the caller's namespaces) and per build
 * of the jar (a rebuilt jar gets a new server). RUNDIR must be a directory of our own that nobody else may enter (0700):
 * the server trusts whoever reaches the socket only after checking its peer credentials, and we trust the server
 * only because nobody else could have put the socket there.
 *
 * Request: NUL-terminated fields: "overlayj-ctl-1", the verb, our cwd, $OVERLAYJ_JAVA_OPTS,
 * $OVERLAYJ_SERVER_JVM_OPTS, $OVERLAYJ_LOG_DIR, then the arguments; then end of file (shutdown SHUT_WR).
 * Reply: a line with the exit code (or "D": the server declines, take the standalone path), then text for stderr
 * (stdout for status) up to end of file.
 *
 * Exit codes: the server's, or 111 when there is no usable server or it declined: the launcher then starts a JVM
 * (the first mount, which also starts the resident server).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NO_SERVER 111

/* $OVERLAYJ_MOUNT_TRACE set: the client's own moments (wall clock, microseconds) go to stderr as it exits, for
 * bench/mount-cost.sh PHASES=1 (with the server's -Doverlayj.mountTrace=true line, the whole mount's time). */
static long long trace_us[4];
static int tracing;
static void trace(int i) {
    if (!tracing) return;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    trace_us[i] = (long long) t.tv_sec * 1000000 + t.tv_nsec / 1000;
}
static void trace_out(void) {
    if (tracing) fprintf(stderr, "client trace (epoch us): start=%lld sent=%lld reply=%lld done=%lld\n",
                         trace_us[0], trace_us[1], trace_us[2], trace_us[3]);
}

static unsigned long long ns_inode(const char *link) {
    char buf[64];
    ssize_t n = readlink(link, buf, sizeof buf - 1);
    if (n <= 0) return 0;
    buf[n] = 0;
    char *b = strchr(buf, '[');
    return b ? strtoull(b + 1, NULL, 10) : 0;
}

static int put(char **p, size_t *len, size_t *cap, const char *s) {
    size_t n = strlen(s) + 1;
    if (*len + n > *cap) {
        size_t c = (*cap + n) * 2;
        char *q = realloc(*p, c);
        if (!q) return -1;
        *p = q;
        *cap = c;
    }
    memcpy(*p + *len, s, n);
    *len += n;
    return 0;
}

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v ? v : "";
}

/* The default runtime directory (see the top); static storage. */
static const char *default_rundir(void) {
    static char buf[4096];
    const char *v = getenv("OVERLAYJ_RUNTIME_DIR");
    if (v && *v) return v;
    struct stat st;
    v = getenv("XDG_RUNTIME_DIR");
    if (v && *v && stat(v, &st) == 0 && S_ISDIR(st.st_mode) && faccessat(AT_FDCWD, v, W_OK, AT_EACCESS) == 0) {
        snprintf(buf, sizeof buf, "%s/overlayj", v);
        return buf;
    }
    if (geteuid() == 0 && faccessat(AT_FDCWD, "/run", W_OK, AT_EACCESS) == 0) return "/run/overlayj/resident";
    v = getenv("TMPDIR");
    snprintf(buf, sizeof buf, "%s/overlayj-resident-%u", v && *v ? v : "/tmp", (unsigned) geteuid());
    return buf;
}

static int run(int argc, char **argv);

int main(int argc, char **argv) {
    tracing = getenv("OVERLAYJ_MOUNT_TRACE") != NULL;
    trace(0);
    if (argc > 2 && strcmp(argv[1], "-x") == 0) {
        const char *script = argv[2];
        argv[2] = argv[0];
        int rc = run(argc - 2, argv + 2);
        if (rc != NO_SERVER || argc < 6) return rc;
        // no server took it: the launcher's bash part goes on (standalone, or it starts the server), with the
        // user's arguments (those after "mount") and without asking again
        char **args = calloc((size_t) argc, sizeof *args);
        if (!args) return NO_SERVER;
        args[0] = "bash";
        args[1] = (char *) script;
        for (int i = 6; i < argc; i++) args[i - 4] = argv[i];
        setenv("OVERLAYJ_ASKED", "1", 1);
        execvp("bash", args);
        fprintf(stderr, "overlayj: cannot run bash: %s\n", strerror(errno));
        return 127;
    }
    return run(argc, argv);
}

static int run(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "rundir") == 0) {
        printf("%s\n", default_rundir());
        return 0;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: overlayj-client RUNDIR|- JAR mount|status [ARGS...]; overlayj-client rundir\n");
        return 2;
    }
    const char *rundir = strcmp(argv[1], "-") == 0 ? default_rundir() : argv[1], *jar = argv[2], *verb = argv[3];
    int status = strcmp(verb, "status") == 0;
    struct stat d, j;
    // our own directory, closed to others; anything else: no resident server (the launcher goes standalone)
    if (lstat(rundir, &d) != 0 || !S_ISDIR(d.st_mode) || d.st_uid != geteuid() || (d.st_mode & 077) != 0
            || stat(jar, &j) != 0) {
        if (status) fprintf(stderr, "overlayj: no resident server (no runtime directory %s of ours)\n", rundir);
        return NO_SERVER;
    }
    // the key, hashed (FNV-1a, 64 bits) into a short name: a socket path must fit 108 bytes, and runtime
    // directories can be long (a test's $XDG_RUNTIME_DIR)
    char key[128];
    snprintf(key, sizeof key, "%llu-%llu-%llx-%lld", ns_inode("/proc/self/ns/mnt"), ns_inode("/proc/self/ns/user"),
             (unsigned long long) j.st_ino, (long long) j.st_mtime);
    unsigned long long h = 0xcbf29ce484222325ULL;
    for (const char *k = key; *k; k++) h = (h ^ (unsigned char) *k) * 0x100000001b3ULL;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int n = snprintf(a.sun_path, sizeof a.sun_path, "%s/ctl-%016llx.sock", rundir, h);
    if (n < 0 || (size_t) n >= sizeof a.sun_path) {
        if (status) fprintf(stderr, "overlayj: no resident server (runtime directory path too long: %s)\n", rundir);
        return NO_SERVER;
    }
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *) &a, sizeof a) != 0) {
        if (status) fprintf(stderr, "overlayj: no resident server (%s: %s)\n", a.sun_path, strerror(errno));
        return NO_SERVER;
    }
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) return NO_SERVER;   // a deleted or too deep cwd: the JVM path says why
    char *req = NULL;
    size_t len = 0, cap = 0;
    int bad = put(&req, &len, &cap, "overlayj-ctl-1") || put(&req, &len, &cap, verb)
            || put(&req, &len, &cap, cwd) || put(&req, &len, &cap, env("OVERLAYJ_JAVA_OPTS"))
            || put(&req, &len, &cap, env("OVERLAYJ_SERVER_JVM_OPTS"))
            || put(&req, &len, &cap, env("OVERLAYJ_LOG_DIR"));
    for (int i = 4; i < argc && !bad; i++) bad = put(&req, &len, &cap, argv[i]);
    if (bad) return NO_SERVER;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(s, req + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return NO_SERVER;              // the server went away before it read the request
        off += (size_t) w;
    }
    shutdown(s, SHUT_WR);
    trace(1);
    // the reply: "CODE\n" then the text; no complete first line means the server never answered (it was exiting)
    char buf[65536];
    size_t got = 0;
    char *nl = NULL;
    while (!nl) {
        ssize_t r = read(s, buf + got, sizeof buf - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return NO_SERVER;
        got += (size_t) r;
        buf[got] = 0;
        nl = memchr(buf, '\n', got);
        if (!nl && got >= sizeof buf - 1) return NO_SERVER;
    }
    trace(2);
    if (buf[0] == 'D') return NO_SERVER;
    int code = atoi(buf);
    int out = status ? 1 : 2;
    size_t head = (size_t) (nl + 1 - buf);
    if (got > head && write(out, buf + head, got - head) < 0) return code ? code : 1;
    for (;;) {
        ssize_t r = read(s, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (write(out, buf, (size_t) r) < 0) break;
    }
    trace(3);
    trace_out();
    return code;
}
