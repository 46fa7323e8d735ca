package org.overlayj.fuse;

/** The request opcodes of the FUSE kernel protocol (values from linux/fuse.h, enum fuse_opcode). */
public final class FuseOpcode {
    private FuseOpcode() {}

    public static final int LOOKUP = 1, FORGET = 2, GETATTR = 3, SETATTR = 4, READLINK = 5, SYMLINK = 6, MKNOD = 8,
            MKDIR = 9, UNLINK = 10, RMDIR = 11, RENAME = 12, LINK = 13, OPEN = 14, READ = 15, WRITE = 16,
            STATFS = 17, RELEASE = 18, FSYNC = 20, SETXATTR = 21, GETXATTR = 22, LISTXATTR = 23,
            REMOVEXATTR = 24, FLUSH = 25, INIT = 26, OPENDIR = 27, READDIR = 28, RELEASEDIR = 29, FSYNCDIR = 30,
            GETLK = 31, SETLK = 32, SETLKW = 33, ACCESS = 34, CREATE = 35, INTERRUPT = 36, BMAP = 37,
            DESTROY = 38, IOCTL = 39, POLL = 40, NOTIFY_REPLY = 41, BATCH_FORGET = 42, FALLOCATE = 43,
            READDIRPLUS = 44, RENAME2 = 45, LSEEK = 46, COPY_FILE_RANGE = 47, SETUPMAPPING = 48,
            REMOVEMAPPING = 49, SYNCFS = 50, TMPFILE = 51, STATX = 52;

    public static String name(int op) {
        return switch (op) {
            case LOOKUP -> "LOOKUP"; case FORGET -> "FORGET"; case GETATTR -> "GETATTR"; case SETATTR -> "SETATTR";
            case READLINK -> "READLINK"; case SYMLINK -> "SYMLINK"; case MKNOD -> "MKNOD"; case MKDIR -> "MKDIR";
            case UNLINK -> "UNLINK"; case RMDIR -> "RMDIR"; case RENAME -> "RENAME"; case LINK -> "LINK";
            case OPEN -> "OPEN"; case READ -> "READ"; case WRITE -> "WRITE"; case STATFS -> "STATFS";
            case RELEASE -> "RELEASE"; case FSYNC -> "FSYNC"; case SETXATTR -> "SETXATTR";
            case GETXATTR -> "GETXATTR"; case LISTXATTR -> "LISTXATTR"; case REMOVEXATTR -> "REMOVEXATTR";
            case FLUSH -> "FLUSH"; case INIT -> "INIT"; case OPENDIR -> "OPENDIR"; case READDIR -> "READDIR";
            case RELEASEDIR -> "RELEASEDIR"; case FSYNCDIR -> "FSYNCDIR"; case GETLK -> "GETLK";
            case SETLK -> "SETLK"; case SETLKW -> "SETLKW"; case ACCESS -> "ACCESS"; case CREATE -> "CREATE";
            case INTERRUPT -> "INTERRUPT"; case BMAP -> "BMAP"; case DESTROY -> "DESTROY"; case IOCTL -> "IOCTL";
            case POLL -> "POLL"; case NOTIFY_REPLY -> "NOTIFY_REPLY"; case BATCH_FORGET -> "BATCH_FORGET";
            case FALLOCATE -> "FALLOCATE"; case READDIRPLUS -> "READDIRPLUS"; case RENAME2 -> "RENAME2";
            case LSEEK -> "LSEEK"; case COPY_FILE_RANGE -> "COPY_FILE_RANGE"; case SETUPMAPPING -> "SETUPMAPPING";
            case REMOVEMAPPING -> "REMOVEMAPPING"; case SYNCFS -> "SYNCFS"; case TMPFILE -> "TMPFILE";
            case STATX -> "STATX";
            default -> "OP" + op;
        };
    }
}
