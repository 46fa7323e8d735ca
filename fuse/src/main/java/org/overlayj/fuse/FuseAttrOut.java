package org.overlayj.fuse;

/** A getattr/setattr answer (struct fuse_attr_out): the attributes and how long the kernel may cache them. */
public record FuseAttrOut(FuseAttr attr, long validNanos) {}
