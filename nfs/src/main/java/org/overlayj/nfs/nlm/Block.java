package org.overlayj.nfs.nlm;

import org.overlayj.nfs.xdr.nlm4_lock;

import java.net.InetSocketAddress;

/**
 * A blocking LOCK that conflicted: the client was answered BLOCKED and waits. When the range frees, the lock is
 * set for the owner at once ({@link #granted}) and a GRANTED call tells the client's lock manager; the Linux client
 * also polls, sending the same LOCK again every 30 s, which then finds the lock already set. A block stays until
 * the client confirms (GRANTED answered, or its LOCK comes again), cancels, or its host goes away.
 *
 * @param lock    the lock as the client sent it, echoed in the GRANTED call (the client matches on it)
 * @param client  where the client's calls came from (its lock manager is asked for at that address)
 * @param server  our address the client called, the source of our GRANTED call (the client checks it)
 * @param vers    the NLM version the client spoke
 */
final class Block {
    final FileKey file;
    final LockOwner owner;
    final ByteRange range;
    final boolean exclusive;
    final nlm4_lock lock;
    final InetSocketAddress client;
    final InetSocketAddress server;
    final int vers;
    /** Set when the range was given to the owner; the GRANTED call may still be on its way. */
    boolean granted;
    /** The cookie of our GRANTED call, so that an asynchronous GRANTED_RES finds its block. */
    byte[] cookie;

    Block(FileKey file, LockOwner owner, ByteRange range, boolean exclusive, nlm4_lock lock,
          InetSocketAddress client, InetSocketAddress server, int vers) {
        this.file = file;
        this.owner = owner;
        this.range = range;
        this.exclusive = exclusive;
        this.lock = lock;
        this.client = client;
        this.server = server;
        this.vers = vers;
    }

    LockOwner owner() { return owner; }

    ByteRange range() { return range; }

    boolean exclusive() { return exclusive; }
}
