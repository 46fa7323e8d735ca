/*
 * ojcheck: the guest side of KernelNfsClientVmTest, linked statically (gcc -static) so that it runs in the
 * busybox initramfs. It drives the Linux kernel's NFS client through plain system calls and prints one marker line
 * per check on stdout (the serial console), which the test parses:
 *
 *   @@OK name [detail]        a check that passed
 *   @@FAIL name detail        a check that failed (the test fails with the detail)
 *   @@RESTART                 (restart) descriptors are open: restart the server, then write "go" to /dev/ttyS1
 *
 * Subcommands:
 *   mount SRC DIR OPTS                 mount(2) of type nfs with the kernel's text options (no mount.nfs here)
 *   big write|verify PATH MIB SEED     MIB MiB of the generator's bytes, written and fsynced, or read and compared
 *   restart DIR LOCKS                  descriptors opened before a server restart, used after it (see below)
 *   locks PATH                         one process holds a write lock, another is refused, then gets it
 *   workload DIR OPS SEED              random writes/truncates/renames/unlinks/reads checked against a model
 *
 * The generator (xorshift64*, one 64-bit word per 8 bytes, little-endian) is the test's too: the lower files it
 * makes and the upper files it checks afterwards are computed the same way.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static int failures;

static void ok(const char *name, const char *fmt, ...) {
    va_list ap;
    printf("@@OK %s ", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static void fail(const char *name, const char *fmt, ...) {
    va_list ap;
    printf("@@FAIL %s ", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    failures++;
}

/* The shared generator: byte i of stream SEED. */
typedef struct { uint64_t s; } gen_t;
static void gen_init(gen_t *g, uint64_t seed) { g->s = seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL; if (!g->s) g->s = 1; }
static uint64_t gen_next(gen_t *g) {
    uint64_t x = g->s;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    g->s = x;
    return x * 0x2545F4914F6CDD1DULL;
}
static void gen_fill(uint64_t seed, unsigned char *buf, size_t n) {
    gen_t g;
    gen_init(&g, seed);
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = gen_next(&g);
        for (int k = 0; k < 8 && i + k < n; k++) buf[i + k] = (unsigned char)(v >> (8 * k));
    }
}

static void drop_caches(void) {
    sync();
    int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
    if (fd >= 0) { if (write(fd, "3", 1) < 0) {} close(fd); }
}

static int read_full(int fd, void *buf, size_t n, off_t off) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, (char *)buf + done, n - done, off + done);
        if (r < 0) return -errno;
        if (r == 0) break;
        done += r;
    }
    return (int)done;
}

static int write_full(int fd, const void *buf, size_t n, off_t off) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = pwrite(fd, (const char *)buf + done, n - done, off + done);
        if (r < 0) return -errno;
        done += r;
    }
    return 0;
}

#define CHECK(name, cond, ...) do { if (cond) ok(name, __VA_ARGS__); else fail(name, __VA_ARGS__); } while (0)
#define ERRNAME(e) ((e) == ESTALE ? "ESTALE" : strerror(e))

/* --- mount ---------------------------------------------------------------------------------------------------- */
static int cmd_mount(char **a) {
    if (mount(a[0], a[1], "nfs", 0, a[2]) != 0) { fail("mount", "%s on %s (%s): %s", a[0], a[1], a[2], strerror(errno)); return 1; }
    ok("mount", "%s", a[2]);
    return 0;
}

/* --- big file ------------------------------------------------------------------------------------------------- */
static int cmd_big(char **a) {
    const char *path = a[1];
    size_t mib = strtoul(a[2], 0, 10);
    uint64_t seed = strtoull(a[3], 0, 10);
    size_t n = mib << 20;
    unsigned char *want = malloc(n), *buf = malloc(1 << 20);
    if (!want || !buf) { fail("big", "out of memory"); return 1; }
    gen_fill(seed, want, n);
    if (!strcmp(a[0], "write")) {
        int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
        if (fd < 0) { fail("big-write", "open %s: %s", path, strerror(errno)); return 1; }
        for (size_t off = 0; off < n; off += 1 << 20) {
            int r = write_full(fd, want + off, 1 << 20, off);
            if (r) { fail("big-write", "pwrite at %zu: %s", off, strerror(-r)); return 1; }
        }
        if (fsync(fd)) { fail("big-fsync", "%s", strerror(errno)); return 1; }
        ok("big-fsync", "%zu MiB", mib);
        if (close(fd)) { fail("big-write", "close: %s", strerror(errno)); return 1; }
        ok("big-write", "%zu MiB", mib);
        return 0;
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) { fail("big-verify", "open %s: %s", path, strerror(errno)); return 1; }
    struct stat st;
    fstat(fd, &st);
    if ((size_t)st.st_size != n) { fail("big-verify", "size %lld, want %zu", (long long)st.st_size, n); return 1; }
    for (size_t off = 0; off < n; off += 1 << 20) {
        int r = read_full(fd, buf, 1 << 20, off);
        if (r != 1 << 20) { fail("big-verify", "read at %zu: %d", off, r); return 1; }
        if (memcmp(buf, want + off, 1 << 20)) {
            size_t i = 0;
            while (buf[i] == want[off + i]) i++;
            fail("big-verify", "differs at byte %zu", off + i);
            return 1;
        }
    }
    close(fd);
    ok("big-verify", "%zu MiB read back", mib);
    return 0;
}

/* --- locks ---------------------------------------------------------------------------------------------------- */
static int setlk(int fd, short type, off_t start, off_t len) {
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    return fcntl(fd, F_SETLK, &fl) == 0 ? 0 : errno;
}

/* In a child process (locks are per process): try a lock, exit 0 if granted, 1 if refused, 2 on another error. */
static int try_in_child(const char *path, short type, off_t start, off_t len) {
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(path, O_RDWR);
        if (fd < 0) _exit(3);
        int e = setlk(fd, type, start, len);
        if (e == 0) _exit(0);
        _exit(e == EAGAIN || e == EACCES ? 1 : 2);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 4;
}

static int cmd_locks(char **a) {
    const char *path = a[0];
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) { fail("lock-open", "%s: %s", path, strerror(errno)); return 1; }
    int e = setlk(fd, F_WRLCK, 0, 100);
    if (e) { fail("lock-hold", "F_SETLK F_WRLCK: %s", strerror(e)); return 1; }
    ok("lock-hold", "write lock on bytes 0-99");
    int r = try_in_child(path, F_WRLCK, 50, 10);
    if (r == 1) ok("lock-refused", "another process's overlapping write lock refused"); else fail("lock-refused", "child got %d", r);
    r = try_in_child(path, F_RDLCK, 200, 10);
    if (r == 0) ok("lock-other-range", "a lock on bytes 200-209 granted"); else fail("lock-other-range", "child got %d", r);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    pid_t pid = fork();
    if (pid == 0) {
        int cfd = open(path, O_RDWR);
        if (fcntl(cfd, F_GETLK, &fl)) _exit(2);
        _exit(fl.l_type == F_WRLCK ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ok("lock-test", "F_GETLK sees the write lock"); else fail("lock-test", "F_GETLK status %d", st);
    if ((e = setlk(fd, F_UNLCK, 0, 100))) fail("lock-unlock", "%s", strerror(e));
    r = try_in_child(path, F_WRLCK, 50, 10);
    if (r == 0) ok("lock-after-unlock", "granted once released"); else fail("lock-after-unlock", "child got %d", r);
    /* blocking: a child waits in F_SETLKW while we hold the range, and gets it once we release it (the server's
       GRANTED callback, or the client's polling) */
    if ((e = setlk(fd, F_WRLCK, 0, 100))) { fail("lock-blocking-waits", "relock: %s", strerror(e)); close(fd); return 1; }
    pid = fork();
    if (pid == 0) {
        int cfd = open(path, O_RDWR);
        struct flock w = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
        _exit(cfd >= 0 && fcntl(cfd, F_SETLKW, &w) == 0 ? 0 : 1);
    }
    sleep(2);
    pid_t done = waitpid(pid, &st, WNOHANG);
    CHECK("lock-blocking-waits", done == 0, "F_SETLKW of another process %s while the range is held",
          done == 0 ? "waits" : "returned");
    if ((e = setlk(fd, F_UNLCK, 0, 100))) fail("lock-unlock", "%s", strerror(e));
    if (done == 0) waitpid(pid, &st, 0);
    CHECK("lock-blocking-granted", WIFEXITED(st) && WEXITSTATUS(st) == 0, "the waiting F_SETLKW got the lock once released");
    close(fd);
    return failures != 0;
}

/* --- restart: descriptors opened before the server restarts, used after it --------------------------------- */
static int wait_go(void) {
    int tty = open("/dev/ttyS1", O_RDWR | O_NOCTTY);
    if (tty < 0) { fail("restart-wait", "/dev/ttyS1: %s", strerror(errno)); return -1; }
    struct termios t;
    if (tcgetattr(tty, &t) == 0) { cfmakeraw(&t); tcsetattr(tty, TCSANOW, &t); }
    printf("@@RESTART\n");
    fflush(stdout);
    char line[64];
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(tty, &c, 1);
        if (r <= 0) { fail("restart-wait", "ttyS1 read: %s", r < 0 ? strerror(errno) : "EOF"); return -1; }
        if (c == '\n' || c == '\r') { line[n] = 0; if (!strcmp(line, "go")) break; n = 0; continue; }
        if (n < sizeof line - 1) line[n++] = c;
    }
    close(tty);
    return 0;
}


static int cmd_restart(char **a) {
    const char *dir = a[0];
    int locks = atoi(a[1]);
    char p[512];
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0) { fail("restart-open", "%s: %s", dir, strerror(errno)); return 1; }
    int fnew = openat(dfd, "new", O_CREAT | O_RDWR | O_TRUNC, 0644);
    int flowr = openat(dfd, "lowread", O_RDONLY);          /* a lower file, read before and after */
    int flowrw = openat(dfd, "lowrw", O_RDWR);             /* a lower file first written after the restart */
    int fapp = openat(dfd, "appended", O_WRONLY | O_APPEND); /* a lower file appended before and after */
    if (fnew < 0 || flowr < 0 || flowrw < 0 || fapp < 0) { fail("restart-open", "%s", strerror(errno)); return 1; }
    const char before[] = "before restart\n", after[] = "after restart\n";
    if (write(fnew, before, sizeof before - 1) != sizeof before - 1 || fsync(fnew)) { fail("restart-before", "new: %s", strerror(errno)); return 1; }
    if (write(fapp, "one\n", 4) != 4 || fsync(fapp)) { fail("restart-before", "appended: %s", strerror(errno)); return 1; }
    unsigned char low[8192], want[8192];
    gen_fill(77, want, sizeof want);
    int r = read_full(flowr, low, 4096, 0);
    CHECK("restart-read-before", r == 4096 && !memcmp(low, want, 4096), "read %d bytes of lowread", r);
    /* The lock held over the restart is on a file of its own: POSIX locks go when the process closes any of its
       descriptors of the file, and "new" is opened and closed again below. */
    int flock_fd = -1;
    if (locks) {
        flock_fd = openat(dfd, "locked", O_CREAT | O_RDWR, 0644);
        int e = flock_fd < 0 ? errno : setlk(flock_fd, F_WRLCK, 0, 100);
        CHECK("restart-lock-before", e == 0, "write lock on r/locked: %s", e ? strerror(e) : "held");
    }
    ok("restart-ready", "4 files and the directory open");
    if (wait_go()) return 1;
    /* the server is a new process now: every call below carries a handle it issued before */
    drop_caches();
    int e;
    e = write(fnew, after, sizeof after - 1) == sizeof after - 1 && fsync(fnew) == 0 ? 0 : errno;
    CHECK("restart-write", e == 0, "write+fsync through a descriptor opened before: %s", e ? ERRNAME(e) : "ok");
    e = write(fapp, "two\n", 4) == 4 && fsync(fapp) == 0 ? 0 : errno;
    CHECK("restart-append", e == 0, "append+fsync to a copied-up lower file: %s", e ? ERRNAME(e) : "ok");
    r = read_full(flowr, low, 4096, 4096);
    CHECK("restart-read", r == 4096 && !memcmp(low, want + 4096, 4096), "second half of lowread: %s",
          r < 0 ? ERRNAME(-r) : (r == 4096 && !memcmp(low, want + 4096, 4096) ? "same bytes" : "differs"));
    e = write_full(flowrw, "X", 1, 0) == 0 && fsync(flowrw) == 0 ? 0 : errno;
    CHECK("restart-copy-up", e == 0, "first write to a lower file opened before the restart: %s", e ? ERRNAME(e) : "ok");
    struct stat st;
    e = fstat(fnew, &st) == 0 ? 0 : errno;
    CHECK("restart-fstat", e == 0 && st.st_size == (off_t)(sizeof before + sizeof after - 2), "size %lld: %s",
          (long long)st.st_size, e ? ERRNAME(e) : "ok");
    e = fchmod(fnew, 0640) == 0 ? 0 : errno;
    CHECK("restart-setattr", e == 0, "fchmod: %s", e ? ERRNAME(e) : "ok");
    drop_caches();
    int f2 = openat(dfd, "new", O_RDONLY);
    char buf[256] = {0};
    r = f2 < 0 ? -errno : read_full(f2, buf, sizeof buf - 1, 0);
    CHECK("restart-reopen", r > 0 && !strcmp(buf, "before restart\nafter restart\n"), "openat+read: %s",
          r < 0 ? ERRNAME(-r) : buf);
    if (f2 >= 0) close(f2);
    int d2 = dup(dfd);
    DIR *d = fdopendir(d2);
    int seen = 0;
    struct dirent *de;
    errno = 0;
    while (d && (de = readdir(d))) if (!strcmp(de->d_name, "new")) seen = 1;
    e = errno;
    CHECK("restart-readdir", seen && e == 0, "listing through the directory opened before: %s", e ? ERRNAME(e) : (seen ? "ok" : "new missing"));
    if (d) closedir(d);
    e = renameat(dfd, "lowread", dfd, "lowread.renamed") == 0 ? 0 : errno;
    CHECK("restart-rename", e == 0, "renameat in the directory opened before: %s", e ? ERRNAME(e) : "ok");
    if (locks) {
        /* the lock taken before the restart was reclaimed: another process is still refused */
        snprintf(p, sizeof p, "%s/locked", dir);
        int c = try_in_child(p, F_WRLCK, 0, 10);
        CHECK("restart-lock-reclaimed", c == 1, "another process's lock after the restart: %s",
              c == 1 ? "refused" : c == 0 ? "granted (lock lost)" : "error");
        e = setlk(flock_fd, F_UNLCK, 0, 100);
        CHECK("restart-unlock", e == 0, "%s", e ? strerror(e) : "released");
        c = try_in_child(p, F_WRLCK, 0, 10);
        CHECK("restart-lock-after", c == 0, "granted after release: %d", c);
    }
    close(fnew); close(flowr); close(flowrw); close(fapp); close(dfd);
    if (flock_fd >= 0) close(flock_fd);
    return failures != 0;
}

/* --- workload: random operations checked against a model --------------------------------------------------- */
#define SLOTS 24
#define MAXSZ (256 * 1024)
typedef struct { int exists; size_t size; unsigned char *data; } slot_t;

static void slot_path(char *p, size_t n, const char *dir, int i) { snprintf(p, n, "%s/f%02d", dir, i); }

static int verify_slot(const char *dir, slot_t *s, int i, const char *what, unsigned char *buf) {
    char p[512];
    slot_path(p, sizeof p, dir, i);
    int fd = open(p, O_RDONLY);
    if (!s->exists) {
        if (fd >= 0 || errno != ENOENT) { fail("workload", "%s: f%02d should not exist (%s)", what, i, fd >= 0 ? "opened" : strerror(errno)); if (fd >= 0) close(fd); return 1; }
        return 0;
    }
    if (fd < 0) { fail("workload", "%s: open f%02d: %s", what, i, ERRNAME(errno)); return 1; }
    int r = read_full(fd, buf, MAXSZ + 1, 0);
    close(fd);
    if (r != (int)s->size || memcmp(buf, s->data, s->size)) {
        fail("workload", "%s: f%02d read %d bytes, model has %zu", what, i, r, s->size);
        return 1;
    }
    return 0;
}

static int cmd_workload(char **a) {
    const char *dir = a[0];
    int ops = atoi(a[1]);
    gen_t g;
    gen_init(&g, strtoull(a[2], 0, 10));
    slot_t s[SLOTS];
    unsigned char *buf = malloc(MAXSZ + 1), *chunk = malloc(MAXSZ);
    char p[512], q[512];
    int counts[8] = {0};
    /* the lower files the test made: slot i < 8 holds gen(1000 + i), (i + 1) * 3000 bytes */
    for (int i = 0; i < SLOTS; i++) {
        s[i].data = malloc(MAXSZ);
        s[i].exists = i < 8;
        s[i].size = i < 8 ? (size_t)(i + 1) * 3000 : 0;
        if (i < 8) gen_fill(1000 + i, s[i].data, s[i].size);
    }
    for (int i = 0; i < SLOTS; i++) if (verify_slot(dir, &s[i], i, "initial", buf)) return 1;
    for (int op = 0; op < ops; op++) {
        int i = gen_next(&g) % SLOTS, kind = gen_next(&g) % 8;
        slot_path(p, sizeof p, dir, i);
        counts[kind]++;
        if (kind <= 2) {            /* write a range (creating the file), sometimes through O_APPEND */
            size_t off = gen_next(&g) % (s[i].size + 4096), len = 1 + gen_next(&g) % 65536;
            int append = kind == 2;
            if (append) off = s[i].exists ? s[i].size : 0;
            if (off + len > MAXSZ) continue;
            gen_fill(gen_next(&g), chunk, len);
            int fd = open(p, O_WRONLY | O_CREAT | (append ? O_APPEND : 0), 0644);
            int e = fd < 0 ? errno : 0;
            if (!e) {
                ssize_t w = append ? write(fd, chunk, len) : pwrite(fd, chunk, len, off);
                if (w != (ssize_t)len) e = w < 0 ? errno : EIO;
                if (!e && gen_next(&g) % 4 == 0 && fsync(fd)) e = errno;
                if (close(fd) && !e) e = errno;
            }
            if (e) { fail("workload", "op %d write f%02d: %s", op, i, ERRNAME(e)); return 1; }
            if (!s[i].exists) { s[i].exists = 1; s[i].size = 0; }
            if (off > s[i].size) memset(s[i].data + s[i].size, 0, off - s[i].size);
            memcpy(s[i].data + off, chunk, len);
            if (off + len > s[i].size) s[i].size = off + len;
        } else if (kind == 3) {     /* truncate, longer or shorter */
            if (!s[i].exists) continue;
            size_t ns = gen_next(&g) % (s[i].size + 8192);
            if (ns > MAXSZ) continue;
            if (truncate(p, ns)) { fail("workload", "op %d truncate f%02d: %s", op, i, ERRNAME(errno)); return 1; }
            if (ns > s[i].size) memset(s[i].data + s[i].size, 0, ns - s[i].size);
            s[i].size = ns;
        } else if (kind == 4) {     /* rename over another slot */
            int j = gen_next(&g) % SLOTS;
            if (!s[i].exists || i == j) continue;
            slot_path(q, sizeof q, dir, j);
            if (rename(p, q)) { fail("workload", "op %d rename f%02d f%02d: %s", op, i, j, ERRNAME(errno)); return 1; }
            unsigned char *t = s[j].data;
            s[j] = s[i];
            s[i].data = t;
            s[i].exists = 0;
            s[i].size = 0;
        } else if (kind == 5) {     /* unlink, now and then */
            if (!s[i].exists || gen_next(&g) % 3) continue;
            if (unlink(p)) { fail("workload", "op %d unlink f%02d: %s", op, i, ERRNAME(errno)); return 1; }
            s[i].exists = 0;
            s[i].size = 0;
        } else if (kind == 6) {     /* read a range */
            if (!s[i].exists) continue;
            size_t off = s[i].size ? gen_next(&g) % s[i].size : 0, len = 1 + gen_next(&g) % 65536;
            int fd = open(p, O_RDONLY);
            if (fd < 0) { fail("workload", "op %d open f%02d: %s", op, i, ERRNAME(errno)); return 1; }
            int r = read_full(fd, buf, len, off);
            close(fd);
            size_t want = off + len > s[i].size ? s[i].size - off : len;
            if (r != (int)want || memcmp(buf, s[i].data + off, want)) {
                fail("workload", "op %d read f%02d at %zu: %d bytes, want %zu%s", op, i, off, r, want, r == (int)want ? " (data differs)" : "");
                return 1;
            }
        } else {                     /* stat, and now and then a whole-file check with the caches dropped */
            struct stat st;
            int e = stat(p, &st) ? errno : 0;
            if (s[i].exists ? (e || (size_t)st.st_size != s[i].size) : e != ENOENT) {
                fail("workload", "op %d stat f%02d: %s size %lld, model %s %zu", op, i, ERRNAME(e), (long long)(e ? -1 : st.st_size), s[i].exists ? "has" : "lacks", s[i].size);
                return 1;
            }
            if (gen_next(&g) % 16 == 0) {
                drop_caches();
                if (verify_slot(dir, &s[i], i, "check", buf)) return 1;
            }
        }
    }
    drop_caches();
    int files = 0;
    size_t bytes = 0;
    for (int i = 0; i < SLOTS; i++) {
        if (verify_slot(dir, &s[i], i, "final", buf)) return 1;
        if (s[i].exists) { files++; bytes += s[i].size; }
    }
    ok("workload", "%d ops (write %d, append %d, truncate %d, rename %d, unlink %d, read %d, stat %d): %d files, %zu bytes agree",
       ops, counts[0] + counts[1], counts[2], counts[3], counts[4], counts[5], counts[6], counts[7], files, bytes);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, 0, _IOLBF, 0);
    if (argc >= 5 && !strcmp(argv[1], "mount")) return cmd_mount(argv + 2);
    if (argc >= 6 && !strcmp(argv[1], "big")) return cmd_big(argv + 2);
    if (argc >= 4 && !strcmp(argv[1], "restart")) return cmd_restart(argv + 2);
    if (argc >= 3 && !strcmp(argv[1], "locks")) return cmd_locks(argv + 2);
    if (argc >= 5 && !strcmp(argv[1], "workload")) return cmd_workload(argv + 2);
    fprintf(stderr, "usage: ojcheck mount|big|restart|locks|workload ...\n");
    return 2;
}
