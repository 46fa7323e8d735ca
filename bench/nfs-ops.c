/*
 * nfs-ops: phases of identical NFSv3 calls (libnfs's raw RPC layer, one call at a time), for counting what a server
 * does per call (bench/nfs-syscalls.sh runs `strace -c -f -p SERVER` around each phase).
 *
 *   nfs-ops URL DIR N MB     URL: the export's root (nfs://...?version=3&...); DIR is made below it, with DIR/big
 *
 * It prints "ready", then reads phase names from stdin, runs each and prints "done PHASE":
 *   create      N x CREATE DIR/f0..   (UNCHECKED, mode 0644)     lookup    N x LOOKUP of DIR/f0..
 *   getattr     N x GETATTR of the handles the last create/lookup gave
 *   remove      N x REMOVE DIR/f0..                              commit    N x COMMIT of DIR/big
 *   write       MB x WRITE 1 MiB (UNSTABLE) to DIR/big           smallwrite N x WRITE 4 KiB
 *   read        MB x READ 1 MiB of DIR/big                       smallread  N x READ 4 KiB
 * Built by nfs-syscalls.sh with gcc and libnfs-dev (4.x). Exits 1 on any failed call.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-nfs.h>

/* libnfs keeps this private; its layout (4.x): what nfs_get_fh returns */
struct nfs_fh { int len; char *val; };
static struct nfs_context *nfs;
static struct rpc_context *rpc;
static int done_flag, st;
static char fhbuf[100000][64]; static int fhlen[100000];
static char newfh[64]; static int newfhlen;

static void cb(struct rpc_context *r, int status, void *data, void *priv) {
    done_flag = 1;
    if (status != RPC_STATUS_SUCCESS) { fprintf(stderr, "rpc failed: %s\n", (char *)data); exit(1); }
    int which = (int)(long)priv;
    st = *(int *)data;  /* every res starts with nfsstat3 */
    if (st != 0) { fprintf(stderr, "nfs status %d (op %d)\n", st, which); exit(1); }
    if (which == 1) { LOOKUP3res *res = data; newfhlen = res->LOOKUP3res_u.resok.object.data.data_len;
        memcpy(newfh, res->LOOKUP3res_u.resok.object.data.data_val, newfhlen); }
    if (which == 2) { CREATE3res *res = data; newfhlen = res->CREATE3res_u.resok.obj.post_op_fh3_u.handle.data.data_len;
        memcpy(newfh, res->CREATE3res_u.resok.obj.post_op_fh3_u.handle.data.data_val, newfhlen); }
}
static void wait_done(void) {
    while (!done_flag) {
        struct pollfd p = { .fd = rpc_get_fd(rpc), .events = rpc_which_events(rpc) };
        if (poll(&p, 1, 1000) < 0) exit(1);
        if (rpc_service(rpc, p.revents) < 0) { fprintf(stderr, "service: %s\n", rpc_get_error(rpc)); exit(1); }
    }
    done_flag = 0;
}
static nfs_fh3 mk(char *v, int len) { nfs_fh3 f; f.data.data_len = len; f.data.data_val = v; return f; }

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: nfs-ops URL DIR N MB\n"); return 2; }
    nfs = nfs_init_context();
    struct nfs_url *url = nfs_parse_url_dir(nfs, argv[1]);
    if (!url || nfs_mount(nfs, url->server, url->path) != 0) { fprintf(stderr, "mount: %s\n", nfs_get_error(nfs)); return 1; }
    const char *dir = argv[2]; int n = atoi(argv[3]), mb = atoi(argv[4]);
    if (nfs_mkdir(nfs, dir) != 0) { fprintf(stderr, "mkdir: %s\n", nfs_get_error(nfs)); return 1; }
    char path[4096]; snprintf(path, sizeof path, "%s/big", dir);
    struct nfsfh *bf;
    if (nfs_creat(nfs, path, 0644, &bf) != 0) { fprintf(stderr, "creat: %s\n", nfs_get_error(nfs)); return 1; }
    struct nfsfh *df;
    if (nfs_open(nfs, dir, O_RDONLY, &df) != 0) { fprintf(stderr, "open dir: %s\n", nfs_get_error(nfs)); return 1; }
    struct nfs_fh *dfh = nfs_get_fh(df), *bfh = nfs_get_fh(bf);
    rpc = nfs_get_rpc_context(nfs);
    nfs_fh3 dirfh = mk(dfh->val, dfh->len), bigfh = mk(bfh->val, bfh->len);
    static char data[1 << 20];
    memset(data, 'x', sizeof data);
    char line[256], name[64];
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready\n");
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        if (!strcmp(line, "create")) for (int i = 0; i < n; i++) {
            CREATE3args a; memset(&a, 0, sizeof a); snprintf(name, sizeof name, "f%d", i);
            a.where.dir = dirfh; a.where.name = name; a.how.mode = UNCHECKED;
            a.how.createhow3_u.obj_attributes.mode.set_it = 1; a.how.createhow3_u.obj_attributes.mode.set_mode3_u.mode = 0644;
            rpc_nfs3_create_async(rpc, cb, &a, (void *)2); wait_done();
            fhlen[i] = newfhlen; memcpy(fhbuf[i], newfh, newfhlen);
        } else if (!strcmp(line, "lookup")) for (int i = 0; i < n; i++) {
            LOOKUP3args a; snprintf(name, sizeof name, "f%d", i); a.what.dir = dirfh; a.what.name = name;
            rpc_nfs3_lookup_async(rpc, cb, &a, (void *)1); wait_done();
            fhlen[i] = newfhlen; memcpy(fhbuf[i], newfh, newfhlen);
        } else if (!strcmp(line, "getattr")) for (int i = 0; i < n; i++) {
            GETATTR3args a; a.object = mk(fhbuf[i], fhlen[i]);
            rpc_nfs3_getattr_async(rpc, cb, &a, (void *)0); wait_done();
        } else if (!strcmp(line, "remove")) for (int i = 0; i < n; i++) {
            REMOVE3args a; snprintf(name, sizeof name, "f%d", i); a.object.dir = dirfh; a.object.name = name;
            rpc_nfs3_remove_async(rpc, cb, &a, (void *)0); wait_done();
        } else if (!strcmp(line, "write")) for (int i = 0; i < mb; i++) {
            WRITE3args a; memset(&a, 0, sizeof a); a.file = bigfh; a.offset = (uint64_t)i << 20; a.count = 1 << 20;
            a.stable = UNSTABLE; a.data.data_len = 1 << 20; a.data.data_val = data;
            rpc_nfs3_write_async(rpc, cb, &a, (void *)0); wait_done();
        } else if (!strcmp(line, "smallwrite")) for (int i = 0; i < n; i++) {
            WRITE3args a; memset(&a, 0, sizeof a); a.file = bigfh; a.offset = (uint64_t)i << 12; a.count = 4096;
            a.stable = UNSTABLE; a.data.data_len = 4096; a.data.data_val = data;
            rpc_nfs3_write_async(rpc, cb, &a, (void *)0); wait_done();
        } else if (!strcmp(line, "read")) for (int i = 0; i < mb; i++) {
            READ3args a; a.file = bigfh; a.offset = (uint64_t)i << 20; a.count = 1 << 20;
            rpc_nfs3_read_async(rpc, cb, &a, (void *)0); wait_done();
        } else if (!strcmp(line, "smallread")) for (int i = 0; i < n; i++) {
            READ3args a; a.file = bigfh; a.offset = (uint64_t)i << 12; a.count = 4096;
            rpc_nfs3_read_async(rpc, cb, &a, (void *)0); wait_done();
        } else if (!strcmp(line, "commit")) for (int i = 0; i < n; i++) {
            COMMIT3args a; a.file = bigfh; a.offset = 0; a.count = 0;
            rpc_nfs3_commit_async(rpc, cb, &a, (void *)0); wait_done();
        } else { fprintf(stderr, "unknown phase %s\n", line); return 2; }
        printf("done %s\n", line);
    }
    return 0;
}
