package org.overlayj.itest;

import org.overlayj.sys.Linux;

import java.util.Locale;

/**
 * One step of a differential script. Paths are byte strings relative to the overlay root, starting with "/".
 * Every op prints as one line, so a failing script can be pasted into a report as it is.
 */
public sealed interface Op {

    /** The path whose parent directory the op changes or reads, for the generator's bookkeeping. */
    String path();

    record Mkdir(String path, int mode) implements Op {
        @Override public String toString() { return "mkdir " + q(path) + " " + oct(mode); }
    }

    /** open(O_CREAT|O_EXCL|O_WRONLY, mode) then write {@link Content} of {@code size} bytes. */
    record Create(String path, int mode, int size, int fill) implements Op {
        @Override public String toString() { return "create " + q(path) + " " + oct(mode) + " " + Content.describe(size, fill); }
    }

    /** open(O_WRONLY) then pwrite at {@code offset}. */
    record Write(String path, long offset, int size, int fill) implements Op {
        @Override public String toString() { return "write " + q(path) + " @" + offset + " " + Content.describe(size, fill); }
    }

    /** open(O_WRONLY|O_TRUNC) then write at 0: an O_TRUNC open copies a lower file up without its data. */
    record Overwrite(String path, int size, int fill) implements Op {
        @Override public String toString() { return "overwrite " + q(path) + " " + Content.describe(size, fill); }
    }

    /** open(O_WRONLY|O_APPEND) then write. */
    record Append(String path, int size, int fill) implements Op {
        @Override public String toString() { return "append " + q(path) + " " + Content.describe(size, fill); }
    }

    record Truncate(String path, long size) implements Op {
        @Override public String toString() { return "truncate " + q(path) + " " + size; }
    }

    /** chmod(2): follows a final symlink (Linux has no lchmod). */
    record Chmod(String path, int mode) implements Op {
        @Override public String toString() { return "chmod " + q(path) + " " + oct(mode); }
    }

    /** lchown(2); -1 keeps a field. */
    record Chown(String path, int uid, int gid) implements Op {
        @Override public String toString() { return "chown " + q(path) + " " + uid + ":" + gid; }
    }

    /** utimensat(AT_SYMLINK_NOFOLLOW) with explicit nanosecond times. */
    record Utimes(String path, long aSec, long aNsec, long mSec, long mNsec) implements Op {
        @Override public String toString() {
            return "utimes " + q(path) + " a=" + aSec + "." + String.format(Locale.ROOT, "%09d", aNsec)
                    + " m=" + mSec + "." + String.format(Locale.ROOT, "%09d", mNsec);
        }
    }

    /** lsetxattr; flags are XATTR_CREATE / XATTR_REPLACE or 0. */
    record SetXattr(String path, String name, String value, int flags) implements Op {
        @Override public String toString() { return "setxattr " + q(path) + " " + name + "=" + q(value) + " flags=" + flags; }
    }

    record RemoveXattr(String path, String name) implements Op {
        @Override public String toString() { return "removexattr " + q(path) + " " + name; }
    }

    /** lgetxattr: the value, or why not (a non-root caller: ENODATA for trusted.*, EACCES without read permission). */
    record GetXattr(String path, String name) implements Op {
        @Override public String toString() { return "getxattr " + q(path) + " " + name; }
    }

    record Symlink(String target, String path) implements Op {
        @Override public String toString() { return "symlink " + q(path) + " -> " + q(target); }
    }

    /** link(2) of {@code from} (not following a symlink) at {@code path}. */
    record Link(String from, String path) implements Op {
        @Override public String toString() { return "link " + q(from) + " " + q(path); }
    }

    record Unlink(String path) implements Op {
        @Override public String toString() { return "unlink " + q(path); }
    }

    /**
     * A group of links (xfstests generic/002): {@code count} new names {@code path.1 .. path.count} for the file
     * at {@code path}, then all but the first removed again, last first, through the names, as a shell's
     * {@code ln t t.1 ... t.N; rm t.N ... t.2} does.
     */
    record LinkGroup(String path, int count) implements Op {
        @Override public String toString() { return "linkgroup " + q(path) + " " + count; }
    }

    record Rmdir(String path) implements Op {
        @Override public String toString() { return "rmdir " + q(path); }
    }

    /** renameat2 with flags 0, RENAME_NOREPLACE or RENAME_EXCHANGE. */
    record Rename(String path, String to, int flags) implements Op {
        @Override public String toString() {
            String f = switch (flags) {
                case Linux.RENAME_NOREPLACE -> " NOREPLACE";
                case Linux.RENAME_EXCHANGE -> " EXCHANGE";
                case 0 -> "";
                default -> " flags=" + flags;
            };
            return "rename " + q(path) + " " + q(to) + f;
        }
    }

    /** Reads the whole file: the outcome carries its length and hash. */
    record Read(String path) implements Op {
        @Override public String toString() { return "read " + q(path); }
    }

    /** Lists a directory: the outcome carries names and types in listing order. */
    record Readdir(String path) implements Op {
        @Override public String toString() { return "readdir " + q(path); }
    }

    // --- descriptors held across ops, and file handles (issue 21) ---------------------------------------------------

    /**
     * open(2) of {@code path} (following a final symlink: never generated at one) kept open as descriptor {@code
     * slot} for the ops that follow, replacing one held there: read-only, or O_RDWR (which copies a lower file up).
     */
    record Hold(String path, int slot, boolean write) implements Op {
        @Override public String toString() { return "hold " + q(path) + " as #" + slot + (write ? " rw" : " ro"); }
    }

    /** pread of the whole file through held descriptor {@code slot}, and its fstat: what an old descriptor sees. */
    record ReadHeld(int slot) implements Op {
        @Override public String path() { return "/"; }
        @Override public String toString() { return "read #" + slot; }
    }

    /** pwrite through held descriptor {@code slot}. */
    record WriteHeld(int slot, long offset, int size, int fill) implements Op {
        @Override public String path() { return "/"; }
        @Override public String toString() { return "write #" + slot + " @" + offset + " " + Content.describe(size, fill); }
    }

    /** open("/proc/self/fd/N") of held descriptor {@code slot} (read-only or O_RDWR), read it whole, close it. */
    record Reopen(int slot, boolean write) implements Op {
        @Override public String path() { return "/"; }
        @Override public String toString() { return "reopen #" + slot + (write ? " rw" : " ro"); }
    }

    /** close(2) of held descriptor {@code slot}. */
    record Release(int slot) implements Op {
        @Override public String path() { return "/"; }
        @Override public String toString() { return "close #" + slot; }
    }

    /** name_to_handle_at(2) of {@code path} (not following a final symlink), kept as handle {@code slot}. */
    record TakeHandle(String path, int slot) implements Op {
        @Override public String toString() { return "handle " + q(path) + " as h" + slot; }
    }

    /** open_by_handle_at(2) of handle {@code slot}: the object's type, size and link count, and a file's data. */
    record OpenHandle(int slot) implements Op {
        @Override public String path() { return "/"; }
        @Override public String toString() { return "open h" + slot; }
    }

    /**
     * {@code echo 3 > /proc/sys/vm/drop_caches}: the dentry and inode caches go (a FUSE mount's nodes are forgotten);
     * then every handle taken is opened as by {@link OpenHandle}, before anything looks a name up again.
     */
    record DropCaches() implements Op {
        @Override public String path() { return "/"; }
        @Override public String toString() { return "drop_caches"; }
    }

    /**
     * Closes every held descriptor, unmounts and mounts the same layers again, and opens every handle taken before
     * (as {@link DropCaches} does).
     */
    record Remount() implements Op {
        @Override public String path() { return "/"; }
        @Override public String toString() { return "remount"; }
    }

    // --- callers other than root (issue 19 "non-root coverage", issue 21 "ACLs and non-root callers") -----------

    /** An unprivileged caller: uid, gid and supplementary groups; it creates with umask 022. */
    record Caller(int uid, int gid, java.util.List<Integer> groups) {
        public Caller {
            groups = java.util.List.copyOf(groups);
        }

        public int[] groupArray() { return groups.stream().mapToInt(Integer::intValue).toArray(); }

        @Override public String toString() {
            StringBuilder s = new StringBuilder().append(uid).append(':').append(gid);
            for (int i = 0; i < groups.size(); i++) s.append(i == 0 ? "+" : ",").append(groups.get(i));
            return s.toString();
        }
    }

    /** The umask a {@link Caller} creates with: the usual one, so modes given and default ACLs both matter. */
    int CALLER_UMASK = 022;

    /** {@code op} made by {@code who} instead of root (on the kernel: a thread with those ids and no capabilities). */
    record As(Caller who, Op op) implements Op {
        @Override public String path() { return op.path(); }
        @Override public String toString() { return "as " + who + " " + op; }
    }

    /**
     * setfacl: {@code system.posix_acl_access} (or {@code _default} on a directory) set to {@code spec}, entries as
     * setfacl writes them ("u::rwx,u:1000:r-x,g::r-x,m::rwx,o::---"); an empty spec removes the ACL.
     */
    record SetAcl(String path, boolean dflt, String spec) implements Op {
        public String xattrName() { return dflt ? "system.posix_acl_default" : "system.posix_acl_access"; }

        @Override public String toString() { return "setfacl " + (dflt ? "-d " : "") + q(path) + " " + (spec.isEmpty() ? "-b" : spec); }
    }

    /** utimensat(path, NULL, AT_SYMLINK_NOFOLLOW): both times to now, which write permission allows (touch). */
    record Touch(String path) implements Op {
        @Override public String toString() { return "touch " + q(path); }
    }

    /**
     * Rotating layers: closes every held descriptor, unmounts, makes the upper layer the top lower layer (the old
     * work dir and its index go), and mounts again over a fresh upper and work dir, as a container build does one
     * layer after another; redirects and origins then chain across the layers the sequence made.
     */
    record Rotate() implements Op {
        @Override public String path() { return "/"; }
        @Override public String toString() { return "rotate"; }
    }

    // --- inode flags and fallocate modes (issue 21 item 11) ------------------------------------------------------

    /**
     * chattr: FS_IOC_GETFLAGS, then FS_IOC_SETFLAGS with {@code add} set and {@code remove} cleared, through an
     * O_RDONLY|O_NONBLOCK|O_NOFOLLOW descriptor as chattr(1) opens; the outcome carries the flags read back
     * ({@link #FLAGS_SHOWN} of them).
     */
    record Chattr(String path, int add, int remove) implements Op {
        @Override public String toString() {
            return "chattr " + (add != 0 ? "+" + letters(add) : "") + (remove != 0 ? "-" + letters(remove) : "") + " " + q(path);
        }
    }

    /** The flags a {@link Chattr} outcome shows: sync, immutable, append-only, nodump, noatime (S i a d A). */
    int FLAGS_SHOWN = 0x08 | 0x10 | 0x20 | 0x40 | 0x80;

    static String letters(int flags) {
        StringBuilder b = new StringBuilder();
        if ((flags & 0x08) != 0) b.append('S');
        if ((flags & 0x10) != 0) b.append('i');
        if ((flags & 0x20) != 0) b.append('a');
        if ((flags & 0x40) != 0) b.append('d');
        if ((flags & 0x80) != 0) b.append('A');
        return b.toString();
    }

    /**
     * fallocate(2) of {@code length} bytes at {@code offset} with {@code mode} (FALLOC_FL_*) through a descriptor
     * opened O_WRONLY, with O_APPEND when {@code append}; the outcome carries the size after.
     */
    record Fallocate(String path, int mode, long offset, long length, boolean append) implements Op {
        @Override public String toString() {
            return "fallocate " + q(path) + " mode=0x" + Integer.toHexString(mode) + " @" + offset + "+" + length
                    + (append ? " O_APPEND" : "");
        }
    }

    private static String q(String byteString) { return Linux.toUtf8(byteString); }

    private static String oct(int mode) { return "0" + Integer.toOctalString(mode); }

    /** Deterministic file contents: {@code size} bytes derived from {@code fill}, so scripts stay one line. */
    final class Content {
        private Content() {}

        public static byte[] bytes(int size, int fill) {
            byte[] b = new byte[size];
            long x = fill * 0x9E3779B97F4A7C15L + 1;
            for (int i = 0; i < size; i++) {
                x ^= x << 13; x ^= x >>> 7; x ^= x << 17;
                // printable most of the time, so a diff of small files is readable in a hex dump
                b[i] = (byte) ('a' + (int) ((x >>> 33) % 26));
            }
            return b;
        }

        static String describe(int size, int fill) { return size + "B#" + fill; }
    }
}
