package org.overlayj.sys;

/** Linux x86-64 errno values used by overlayj, and their names for messages. */
public final class Errno {
    private Errno() {}

    public static final int EPERM = 1, ENOENT = 2, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7, EBADF = 9, EAGAIN = 11,
            ENOMEM = 12, EACCES = 13, EFAULT = 14, EBUSY = 16, EEXIST = 17, EXDEV = 18, ENODEV = 19, ENOTDIR = 20,
            EISDIR = 21, EINVAL = 22, ENFILE = 23, EMFILE = 24, ENOTTY = 25, ETXTBSY = 26, EFBIG = 27, ENOSPC = 28, ESPIPE = 29,
            EROFS = 30, EMLINK = 31, ERANGE = 34, ENAMETOOLONG = 36, ENOSYS = 38, ENOTEMPTY = 39, ELOOP = 40,
            ENODATA = 61, EREMOTE = 66, EOVERFLOW = 75, EOPNOTSUPP = 95, ENOTSUP = 95, ETIMEDOUT = 110,
            ESTALE = 116, EDQUOT = 122;

    public static String name(int errno) {
        return switch (errno) {
            case EPERM -> "EPERM"; case ENOENT -> "ENOENT"; case EINTR -> "EINTR"; case EIO -> "EIO";
            case ENXIO -> "ENXIO"; case E2BIG -> "E2BIG"; case EBADF -> "EBADF"; case EAGAIN -> "EAGAIN";
            case ENOMEM -> "ENOMEM"; case EACCES -> "EACCES"; case EFAULT -> "EFAULT"; case EBUSY -> "EBUSY";
            case EEXIST -> "EEXIST"; case EXDEV -> "EXDEV"; case ENODEV -> "ENODEV"; case ENOTDIR -> "ENOTDIR";
            case EISDIR -> "EISDIR"; case EINVAL -> "EINVAL"; case ENFILE -> "ENFILE"; case EMFILE -> "EMFILE";
            case ENOTTY -> "ENOTTY";
            case ETXTBSY -> "ETXTBSY"; case EFBIG -> "EFBIG"; case ENOSPC -> "ENOSPC"; case ESPIPE -> "ESPIPE";
            case EROFS -> "EROFS"; case EMLINK -> "EMLINK"; case ERANGE -> "ERANGE";
            case ENAMETOOLONG -> "ENAMETOOLONG"; case ENOSYS -> "ENOSYS"; case ENOTEMPTY -> "ENOTEMPTY";
            case ELOOP -> "ELOOP"; case ENODATA -> "ENODATA"; case EREMOTE -> "EREMOTE";
            case EOVERFLOW -> "EOVERFLOW"; case EOPNOTSUPP -> "EOPNOTSUPP"; case ETIMEDOUT -> "ETIMEDOUT";
            case ESTALE -> "ESTALE"; case EDQUOT -> "EDQUOT";
            default -> "errno " + errno;
        };
    }
}
