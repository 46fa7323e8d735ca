package org.overlayj.nfs;

import org.overlayj.core.Attr;
import org.overlayj.core.ChangeListener;
import org.overlayj.core.Creds;
import org.overlayj.core.Node;
import org.overlayj.core.OpenFile;
import org.overlayj.core.Overlay;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.Linux;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The engine open files that READ, WRITE and COMMIT use, kept between calls (knfsd's file cache, nfs-ganesha's fd
 * cache): NFSv3 has no open, so without this every data call opened and closed its file, an openat, a close and
 * the open's stat per 1 MiB moved. At most one open file per node and access mode (read-only, write-only), few
 * of them ({@link #max}, least recently used dropped first), closed once idle for {@link #idleMillis}.
 *
 * <p>What keeps a kept file honest:
 * <ul>
 *   <li>every call that takes one passes the engine's open checks for its own caller again
 *       ({@link Overlay#checkReuse}: file-attribute flags, permission with the owner override, on the attributes
 *       the call just read), so one caller's file never serves another's call that an open would refuse, nor the
 *       same caller's after a chmod;</li>
 *   <li>a write file is only ever made by the engine's open for writing, so its copy-up has happened before the
 *       first byte lands, and a read file opened on a lower inode is moved to the upper copy by the engine itself
 *       (OpenFile#reopenOnUpper) — besides, a node that gets an upper inode (the engine's
 *       {@link ChangeListener#attrsChanged}) has its files dropped;</li>
 *   <li>every REMOVE and RENAME drops all of them, before and after the change: an unlinked object's inode is
 *       reachable through a file open on it, and a handle of a removed or replaced file must go stale rather than
 *       be served through a kept file; a SETATTR drops its node's.</li>
 * </ul>
 * A file in use by a call ({@link Lease}) is closed when the last call using it is done, never under it.
 */
final class OpenFileCache implements ChangeListener, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(OpenFileCache.class);

    /** Open files kept at most; beyond, the least recently used unused one is closed. */
    static final int DEFAULT_MAX = 128;
    /** A kept file not used for this long is closed (knfsd closes unused NFSv3 files after about as long). */
    static final long DEFAULT_IDLE_MILLIS = 2000;

    private final Overlay fs;
    private final int max;
    private final long idleMillis;
    /** Access order: the first entries are the least recently used. Guarded by {@code this}. */
    private final LinkedHashMap<Key, Lease> kept = new LinkedHashMap<>(16, 0.75f, true);
    /** Dropped by the engine's news while nobody could close them (a listener must not call the engine). */
    private final List<Lease> toClose = new ArrayList<>();
    private final ScheduledExecutorService sweeper;
    private boolean closed;

    private record Key(Node node, boolean write) {}

    /** One open file and the calls using it. */
    static final class Lease {
        final Key key;
        final OpenFile file;
        /** Calls using it now; guarded by the cache. */
        private int users;
        /** No longer kept: closed when its last user is done. Guarded by the cache. */
        private boolean dropped;
        private long lastUsed;

        private Lease(Key key, OpenFile file) {
            this.key = key;
            this.file = file;
        }

        OpenFile file() { return file; }
    }

    OpenFileCache(Overlay fs) {
        this(fs, DEFAULT_MAX, DEFAULT_IDLE_MILLIS);
    }

    OpenFileCache(Overlay fs, int max, long idleMillis) {
        this.fs = fs;
        this.max = max;
        this.idleMillis = idleMillis;
        this.sweeper = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "overlayj-nfs-open-files");
            t.setDaemon(true);
            return t;
        });
        long period = Math.max(idleMillis / 2, 100);
        sweeper.scheduleWithFixedDelay(this::closeIdle, period, period, TimeUnit.MILLISECONDS);
        fs.addChangeListener(this);
    }

    /**
     * An open file of {@code n} for reading or writing for a call by {@code c}, whose attributes it read as
     * {@code a}: a kept one that passes the open checks for {@code c}, or a new one opened by the engine for
     * {@code c} (with the owner override, as the door's data calls are). Give it back with {@link #done}.
     */
    Lease take(Node n, boolean write, Creds c, Attr a) throws ErrnoException {
        closePending();
        Key key = new Key(n, write);
        Lease l;
        synchronized (this) {
            l = closed ? null : kept.get(key);
            if (l != null) l.users++;
        }
        if (l != null) {
            try {
                fs.checkReuse(l.file, a, c, true);
                return l;
            } catch (ErrnoException e) {
                done(l);
                throw e;
            }
        }
        OpenFile f = fs.open(n, write ? Linux.O_WRONLY : Linux.O_RDONLY, c, true);
        l = new Lease(key, f);
        l.users = 1;
        List<Lease> evicted = new ArrayList<>();
        synchronized (this) {
            if (closed || kept.containsKey(key)) {
                l.dropped = true;                  // another call kept one meanwhile: this one is closed after use
            } else {
                kept.put(key, l);
                for (Iterator<Lease> it = kept.values().iterator(); kept.size() > max && it.hasNext(); ) {
                    Lease old = it.next();
                    if (old.users > 0) continue;
                    it.remove();
                    old.dropped = true;
                    evicted.add(old);
                }
            }
        }
        closeAll(evicted);
        return l;
    }

    /** The kept write file of {@code n}, if any (a COMMIT syncs through it), or null; give it back with {@link #done}. */
    Lease writer(Node n) {
        synchronized (this) {
            Lease l = closed ? null : kept.get(new Key(n, true));
            if (l != null) l.users++;
            return l;
        }
    }

    /** A call is done with {@code l}. */
    void done(Lease l) {
        boolean close;
        synchronized (this) {
            l.users--;
            l.lastUsed = System.nanoTime();
            close = l.users == 0 && l.dropped;
        }
        if (close) closeQuietly(l);
    }

    /** Drops the files of {@code n} (a SETATTR of it). */
    void drop(Node n) {
        List<Lease> gone = new ArrayList<>();
        synchronized (this) {
            for (boolean w : new boolean[]{false, true}) {
                Lease l = kept.remove(new Key(n, w));
                if (l != null && dropped(l)) gone.add(l);
            }
        }
        closeAll(gone);
    }

    /** Drops every kept file (around a REMOVE or RENAME: which inode loses its last name is not known here). */
    void dropAll() {
        List<Lease> gone = new ArrayList<>();
        synchronized (this) {
            if (kept.isEmpty() && toClose.isEmpty()) return;
            for (Lease l : kept.values()) if (dropped(l)) gone.add(l);
            kept.clear();
            gone.addAll(toClose);
            toClose.clear();
        }
        closeAll(gone);
    }

    /** Marks {@code l} dropped; whether it can be closed now (no call uses it). Under the lock. */
    private static boolean dropped(Lease l) {
        l.dropped = true;
        return l.users == 0;
    }

    /** The engine's news: {@code n} got an upper inode (a copy-up). Its files are closed by the next call. */
    @Override
    public void attrsChanged(Node n) {
        synchronized (this) {
            for (boolean w : new boolean[]{false, true}) {
                Lease l = kept.remove(new Key(n, w));
                if (l != null && dropped(l)) toClose.add(l);
            }
        }
    }

    /** How many files are kept now (tests). */
    synchronized int size() { return kept.size(); }

    private void closePending() {
        List<Lease> gone;
        synchronized (this) {
            if (toClose.isEmpty()) return;
            gone = new ArrayList<>(toClose);
            toClose.clear();
        }
        closeAll(gone);
    }

    private void closeIdle() {
        List<Lease> gone = new ArrayList<>();
        long now = System.nanoTime(), idle = TimeUnit.MILLISECONDS.toNanos(idleMillis);
        synchronized (this) {
            for (Iterator<Lease> it = kept.values().iterator(); it.hasNext(); ) {
                Lease l = it.next();
                if (l.users > 0 || now - l.lastUsed < idle) continue;
                it.remove();
                l.dropped = true;
                gone.add(l);
            }
            gone.addAll(toClose);
            toClose.clear();
        }
        closeAll(gone);
    }

    private void closeAll(List<Lease> leases) {
        for (Lease l : leases) closeQuietly(l);
    }

    private void closeQuietly(Lease l) {
        try {
            fs.release(l.file);
        } catch (ErrnoException | RuntimeException e) {
            log.debug("closing a kept NFS file: {}", e.toString());
        }
    }

    /** Closes every kept file (a stopping server: the layers must be free once it is gone). */
    @Override
    public void close() {
        sweeper.shutdownNow();
        List<Lease> gone = new ArrayList<>();
        synchronized (this) {
            closed = true;
            for (Lease l : kept.values()) if (dropped(l)) gone.add(l);
            kept.clear();
            gone.addAll(toClose);
            toClose.clear();
        }
        closeAll(gone);
    }
}
