package org.overlayj.core;

/**
 * One entry of a merged directory listing. {@code cookie} resumes the listing after this entry; {@code ino} is the
 * d_ino (equal to st_ino, format doc §3.6); {@code type} is a DT_* value. Names are byte strings.
 */
public record DirEntry(String name, long ino, int type, long cookie) {}
