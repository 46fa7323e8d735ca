package org.overlayj.nfs;

import org.overlayj.nfs.xdr.Nfs3;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * Request counters of one server: per procedure (calls, and time from taking the call to handing its reply to the
 * transport), errors, bytes, and how WRITEs asked for their data to be kept. Cheap to bump from every worker
 * thread. The times and the stable_how split are there to tell where a client's time goes: a workload's wall
 * time against the sum of the server's call times says whether the server or the client and the network wait.
 */
public final class NfsStats {
    static final String[] NFS_PROCS = {"NULL", "GETATTR", "SETATTR", "LOOKUP", "ACCESS", "READLINK", "READ", "WRITE",
            "CREATE", "MKDIR", "SYMLINK", "MKNOD", "REMOVE", "RMDIR", "RENAME", "LINK", "READDIR", "READDIRPLUS",
            "FSSTAT", "FSINFO", "PATHCONF", "COMMIT"};
    static final String[] MOUNT_PROCS = {"NULL", "MNT", "DUMP", "UMNT", "UMNTALL", "EXPORT"};

    /** stable_how of RFC 1813 §3.3.7, by its value. */
    static final String[] STABLE_HOW = {"UNSTABLE", "DATA_SYNC", "FILE_SYNC"};

    private final LongAdder[] nfs = adders(NFS_PROCS.length);
    private final LongAdder[] nfsNanos = adders(NFS_PROCS.length);
    private final LongAdder[] mount = adders(MOUNT_PROCS.length);
    private final LongAdder[] writes = adders(STABLE_HOW.length);
    private final LongAdder errors = new LongAdder();
    private final LongAdder rejected = new LongAdder();
    private final LongAdder bytesRead = new LongAdder();
    private final LongAdder bytesWritten = new LongAdder();
    private final LongAdder readsHere = new LongAdder();
    private final LongAdder readsToWorkers = new LongAdder();

    private static LongAdder[] adders(int n) {
        LongAdder[] a = new LongAdder[n];
        for (int i = 0; i < n; i++) a[i] = new LongAdder();
        return a;
    }

    void nfsCall(int proc) { if (proc >= 0 && proc < nfs.length) nfs[proc].increment(); }
    /** Time spent on one NFS call, counted by {@link #nfsCall}. */
    void nfsTime(int proc, long nanos) { if (proc >= 0 && proc < nfsNanos.length) nfsNanos[proc].add(nanos); }
    void writeStable(int how) { if (how >= 0 && how < writes.length) writes[how].increment(); }
    void mountCall(int proc) { if (proc >= 0 && proc < mount.length) mount[proc].increment(); }
    /** A reply with a status other than OK. */
    void error() { errors.increment(); }
    /** A call refused at the RPC level: bad credentials, garbage arguments, unknown procedure. */
    void reject() { rejected.increment(); }
    void read(long n) { bytesRead.add(n); }
    void written(long n) { bytesWritten.add(n); }
    /**
     * A large READ served on its connection's thread, its pages all in the page cache (Nfs3Program); counted as a
     * READ call too (such a READ is counted once it is known not to go to a worker).
     */
    void readHere() {
        readsHere.increment();
        nfsCall(Nfs3.NFSPROC3_READ_3);
    }
    /** A large READ that its connection's thread handed to a worker on finding its pages not all cached. */
    void readToWorkers() { readsToWorkers.increment(); }

    public long readsHere() { return readsHere.sum(); }
    public long readsToWorkers() { return readsToWorkers.sum(); }

    public long nfsCalls(String proc) {
        for (int i = 0; i < NFS_PROCS.length; i++) if (NFS_PROCS[i].equals(proc)) return nfs[i].sum();
        throw new IllegalArgumentException(proc);
    }

    public long errors() { return errors.sum(); }
    public long rejected() { return rejected.sum(); }
    public long bytesRead() { return bytesRead.sum(); }
    public long bytesWritten() { return bytesWritten.sum(); }

    /** Milliseconds the server spent on the calls of one procedure, summed over the calls. */
    public long nfsMillis(String proc) {
        for (int i = 0; i < NFS_PROCS.length; i++) if (NFS_PROCS[i].equals(proc)) return nfsNanos[i].sum() / 1_000_000;
        throw new IllegalArgumentException(proc);
    }

    /** WRITE calls that asked for {@code how} (UNSTABLE, DATA_SYNC, FILE_SYNC). */
    public long writes(String how) {
        for (int i = 0; i < STABLE_HOW.length; i++) if (STABLE_HOW[i].equals(how)) return writes[i].sum();
        throw new IllegalArgumentException(how);
    }

    /** Non-zero counters, in protocol order; {@code nfs.X.ms} is the time spent on X's calls. */
    public Map<String, Long> snapshot() {
        Map<String, Long> m = new LinkedHashMap<>();
        for (int i = 0; i < nfs.length; i++) {
            if (nfs[i].sum() == 0) continue;
            m.put("nfs." + NFS_PROCS[i], nfs[i].sum());
            m.put("nfs." + NFS_PROCS[i] + ".ms", nfsNanos[i].sum() / 1_000_000);
        }
        for (int i = 0; i < writes.length; i++)
            if (writes[i].sum() != 0) m.put("write." + STABLE_HOW[i], writes[i].sum());
        for (int i = 0; i < mount.length; i++) if (mount[i].sum() != 0) m.put("mount." + MOUNT_PROCS[i], mount[i].sum());
        m.put("errors", errors.sum());
        m.put("rejected", rejected.sum());
        m.put("bytes.read", bytesRead.sum());
        m.put("bytes.written", bytesWritten.sum());
        if (readsHere.sum() != 0) m.put("read.cached.here", readsHere.sum());
        if (readsToWorkers.sum() != 0) m.put("read.uncached.to.workers", readsToWorkers.sum());
        return m;
    }

    @Override public String toString() { return snapshot().toString(); }
}
