package org.overlayj.fuse;

/** Who sent a request: the caller's fsuid, fsgid and thread-group id from the request header (pid 0 = kernel). */
public record FuseContext(long unique, int uid, int gid, int pid) {}
