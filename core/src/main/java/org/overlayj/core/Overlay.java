package org.overlayj.core;

import org.overlayj.core.config.OverlayOptions;
import org.overlayj.sys.Errno;
import org.overlayj.sys.ErrnoException;
import org.overlayj.sys.StatFs;

import java.util.List;

/**
 * The overlay: one instance per mounted set of layers. Inode-based like the VFS: doors hold {@link Node}s and call
 * these methods; every overlay rule lives behind them. Names and paths are byte strings (see
 * org.overlayj.sys.Linux). Errors are {@link ErrnoException}s carrying the errno the kernel's overlayfs gives.
 */
public final class Overlay implements AutoCloseable {

    private static ErrnoException todo() { return new ErrnoException(Errno.ENOSYS, "not implemented yet"); }

    /** Verifies and prepares the layers (format doc §1.3–1.4, §5.7, §8) and returns the mounted overlay. */
    public static Overlay mount(OverlayOptions options) throws ErrnoException { throw todo(); }

    public OverlayOptions options() { throw new UnsupportedOperationException(); }

    /** True when there is no upper layer (or it fell back to read-only): every change gives EROFS. */
    public boolean readOnly() { throw new UnsupportedOperationException(); }

    public Node root() { throw new UnsupportedOperationException(); }

    /** The child {@code name} of {@code dir}; ENOENT when there is none (or it is whited out). */
    public Node lookup(Node dir, String name, Creds c) throws ErrnoException { throw todo(); }

    public Attr getattr(Node n) throws ErrnoException { throw todo(); }

    /** chmod / chown / truncate / utimes, copying the object up first. */
    public Attr setattr(Node n, SetAttr a, Creds c) throws ErrnoException { throw todo(); }

    /**
     * Up to {@code max} entries of the merged listing after {@code cookie} (0 = from the start; "." and ".." are
     * included first). Cookies stay valid until the directory changes; a cookie of 0 re-reads the layers.
     */
    public List<DirEntry> readdir(Node dir, long cookie, int max, Creds c) throws ErrnoException { throw todo(); }

    /** Changes whenever the directory's entries change: the NFS cookie verifier. */
    public long dirVersion(Node dir) { throw new UnsupportedOperationException(); }

    public Node create(Node dir, String name, int mode, Creds c) throws ErrnoException { throw todo(); }

    public Node mkdir(Node dir, String name, int mode, Creds c) throws ErrnoException { throw todo(); }

    public Node mknod(Node dir, String name, int mode, long rdev, Creds c) throws ErrnoException { throw todo(); }

    public Node symlink(Node dir, String name, String target, Creds c) throws ErrnoException { throw todo(); }

    public Node link(Node node, Node newDir, String newName, Creds c) throws ErrnoException { throw todo(); }

    public void unlink(Node dir, String name, Creds c) throws ErrnoException { throw todo(); }

    public void rmdir(Node dir, String name, Creds c) throws ErrnoException { throw todo(); }

    /** renameat2 semantics; {@code flags} are RENAME_NOREPLACE / RENAME_EXCHANGE / RENAME_WHITEOUT. */
    public void rename(Node oldDir, String oldName, Node newDir, String newName, int flags, Creds c)
            throws ErrnoException { throw todo(); }

    public String readlink(Node n) throws ErrnoException { throw todo(); }

    /** Opens with open(2) flags; a write or O_TRUNC open copies the object up first. */
    public OpenFile open(Node n, int flags, Creds c) throws ErrnoException { throw todo(); }

    public int read(OpenFile f, long offset, byte[] buf, int off, int len) throws ErrnoException { throw todo(); }

    public int write(OpenFile f, long offset, byte[] buf, int off, int len) throws ErrnoException { throw todo(); }

    public void fsync(OpenFile f, boolean dataOnly) throws ErrnoException { throw todo(); }

    public void release(OpenFile f) throws ErrnoException { throw todo(); }

    public byte[] getxattr(Node n, String name, Creds c) throws ErrnoException { throw todo(); }

    /** flags: XATTR_CREATE / XATTR_REPLACE. */
    public void setxattr(Node n, String name, byte[] value, int flags, Creds c) throws ErrnoException { throw todo(); }

    public List<String> listxattr(Node n, Creds c) throws ErrnoException { throw todo(); }

    public void removexattr(Node n, String name, Creds c) throws ErrnoException { throw todo(); }

    /** Access check as the kernel does it for {@code c}: mask of 4 (r), 2 (w), 1 (x); 0 checks existence. */
    public void access(Node n, int mask, Creds c) throws ErrnoException { throw todo(); }

    /** statfs of the upper layer (of the top lower layer when read-only). */
    public StatFs statfs() throws ErrnoException { throw todo(); }

    /** The kernel's overlay file handle bytes (type 0xf8 payload, format doc §6.2). */
    public byte[] encodeHandle(Node n) throws ErrnoException { throw todo(); }

    /** The object a handle names; ESTALE when it is gone or not of this overlay. Never throws anything else. */
    public Node decodeHandle(byte[] handle) throws ErrnoException { throw todo(); }

    /** Syncs the upper layer. */
    public void sync() throws ErrnoException { throw todo(); }

    @Override public void close() {}
}
