package org.overlayj.nfs.nlm;

/**
 * The file a lock is on: the export the handle was issued under and the file's stable identity there (the
 * overlay's inode number, which is the NFS fileid and survives copy-up and restarts). Locks are kept per export:
 * the same file reached through two exports has two independent lock tables, so one export's clients can neither
 * see nor block nor release another's.
 */
public record FileKey(int exportId, long fileId) {}
