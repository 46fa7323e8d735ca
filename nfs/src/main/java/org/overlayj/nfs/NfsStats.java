package org.overlayj.nfs;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/** Request counters of one server: per procedure, errors, bytes. Cheap to bump from every worker thread. */
public final class NfsStats {
    static final String[] NFS_PROCS = {"NULL", "GETATTR", "SETATTR", "LOOKUP", "ACCESS", "READLINK", "READ", "WRITE",
            "CREATE", "MKDIR", "SYMLINK", "MKNOD", "REMOVE", "RMDIR", "RENAME", "LINK", "READDIR", "READDIRPLUS",
            "FSSTAT", "FSINFO", "PATHCONF", "COMMIT"};
    static final String[] MOUNT_PROCS = {"NULL", "MNT", "DUMP", "UMNT", "UMNTALL", "EXPORT"};

    private final LongAdder[] nfs = adders(NFS_PROCS.length);
    private final LongAdder[] mount = adders(MOUNT_PROCS.length);
    private final LongAdder errors = new LongAdder();
    private final LongAdder rejected = new LongAdder();
    private final LongAdder bytesRead = new LongAdder();
    private final LongAdder bytesWritten = new LongAdder();

    private static LongAdder[] adders(int n) {
        LongAdder[] a = new LongAdder[n];
        for (int i = 0; i < n; i++) a[i] = new LongAdder();
        return a;
    }

    void nfsCall(int proc) { if (proc >= 0 && proc < nfs.length) nfs[proc].increment(); }
    void mountCall(int proc) { if (proc >= 0 && proc < mount.length) mount[proc].increment(); }
    /** A reply with a status other than OK. */
    void error() { errors.increment(); }
    /** A call refused at the RPC level: bad credentials, garbage arguments, unknown procedure. */
    void reject() { rejected.increment(); }
    void read(long n) { bytesRead.add(n); }
    void written(long n) { bytesWritten.add(n); }

    public long nfsCalls(String proc) {
        for (int i = 0; i < NFS_PROCS.length; i++) if (NFS_PROCS[i].equals(proc)) return nfs[i].sum();
        throw new IllegalArgumentException(proc);
    }

    public long errors() { return errors.sum(); }
    public long rejected() { return rejected.sum(); }
    public long bytesRead() { return bytesRead.sum(); }
    public long bytesWritten() { return bytesWritten.sum(); }

    /** Non-zero counters, in protocol order. */
    public Map<String, Long> snapshot() {
        Map<String, Long> m = new LinkedHashMap<>();
        for (int i = 0; i < nfs.length; i++) if (nfs[i].sum() != 0) m.put("nfs." + NFS_PROCS[i], nfs[i].sum());
        for (int i = 0; i < mount.length; i++) if (mount[i].sum() != 0) m.put("mount." + MOUNT_PROCS[i], mount[i].sum());
        m.put("errors", errors.sum());
        m.put("rejected", rejected.sum());
        m.put("bytes.read", bytesRead.sum());
        m.put("bytes.written", bytesWritten.sum());
        return m;
    }

    @Override public String toString() { return snapshot().toString(); }
}
