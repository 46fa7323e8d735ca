/*
 * nfs-meta: metadata workloads for bench/nfs-bench.sh, one libnfs context (one mount, one TCP connection), one
 * call at a time, so the figure is the sum of the server's per-call latencies.
 *
 *   nfs-meta URL files DIR N      create DIR/f0..f(N-1) (CREATE, closed at once), stat each (LOOKUP+GETATTR),
 *                                 remove each (REMOVE); DIR is made first and removed after
 *   nfs-meta URL list DIR ROUNDS  list DIR (READDIRPLUS until EOF) ROUNDS times; prints the entry count
 *
 * URL is the export's nfs:// URL (with ?version=3&... options); DIR is relative to it. Built by nfs-bench.sh
 * (gcc, libnfs-dev). Exits 1 with the failing call's libnfs error.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <nfsc/libnfs.h>

static struct nfs_context *nfs;

static void die(const char *what, const char *path) {
    fprintf(stderr, "nfs-meta: %s %s: %s\n", what, path, nfs_get_error(nfs));
    exit(1);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: nfs-meta URL files|list DIR N\n");
        return 2;
    }
    nfs = nfs_init_context();
    if (!nfs) return 1;
    nfs_set_dircache(nfs, 0);      /* every listing goes to the server */
    struct nfs_url *url = nfs_parse_url_dir(nfs, argv[1]);
    if (!url) die("parse", argv[1]);
    if (nfs_mount(nfs, url->server, url->path) != 0) die("mount", url->path);
    const char *dir = argv[3];
    long n = strtol(argv[4], NULL, 10);
    char path[4096];
    if (strcmp(argv[2], "files") == 0) {
        if (nfs_mkdir(nfs, dir) != 0) die("mkdir", dir);
        for (long i = 0; i < n; i++) {
            struct nfsfh *fh;
            snprintf(path, sizeof path, "%s/f%ld", dir, i);
            if (nfs_creat(nfs, path, 0644, &fh) != 0) die("create", path);
            nfs_close(nfs, fh);
        }
        for (long i = 0; i < n; i++) {
            struct nfs_stat_64 st;
            snprintf(path, sizeof path, "%s/f%ld", dir, i);
            if (nfs_stat64(nfs, path, &st) != 0) die("stat", path);
        }
        for (long i = 0; i < n; i++) {
            snprintf(path, sizeof path, "%s/f%ld", dir, i);
            if (nfs_unlink(nfs, path) != 0) die("remove", path);
        }
        if (nfs_rmdir(nfs, dir) != 0) die("rmdir", dir);
        printf("%ld files\n", n);
    } else if (strcmp(argv[2], "list") == 0) {
        long entries = 0;
        for (long r = 0; r < n; r++) {
            struct nfsdir *d;
            if (nfs_opendir(nfs, dir, &d) != 0) die("opendir", dir);
            for (struct nfsdirent *e; (e = nfs_readdir(nfs, d)) != NULL; ) entries++;
            nfs_closedir(nfs, d);
        }
        printf("%ld entries\n", entries);
    } else {
        fprintf(stderr, "nfs-meta: unknown workload %s\n", argv[2]);
        return 2;
    }
    nfs_umount(nfs);
    nfs_destroy_url(url);
    nfs_destroy_context(nfs);
    return 0;
}
