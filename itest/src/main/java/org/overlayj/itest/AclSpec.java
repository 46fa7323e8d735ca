package org.overlayj.itest;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * A POSIX ACL written as setfacl takes it ("u::rwx,u:1000:r-x,g::r-x,g:2000:rw-,m::rwx,o::---") turned into the
 * {@code system.posix_acl_*} xattr value the kernel takes: version 2, then {tag u16, perm u16, id u32} entries,
 * little-endian, sorted by tag and id. The harness writes it with setxattr on every target alike.
 */
final class AclSpec {
    private AclSpec() {}

    private static final int USER_OBJ = 1, USER = 2, GROUP_OBJ = 4, GROUP = 8, MASK = 0x10, OTHER = 0x20;

    static byte[] encode(String spec) {
        record E(int tag, int perm, int id) {}
        List<E> entries = new ArrayList<>();
        for (String part : spec.split(",")) {
            String[] f = part.split(":");
            boolean named = !f[1].isEmpty();
            int tag = switch (f[0]) {
                case "u" -> named ? USER : USER_OBJ;
                case "g" -> named ? GROUP : GROUP_OBJ;
                case "m" -> MASK;
                case "o" -> OTHER;
                default -> throw new IllegalArgumentException(spec);
            };
            int perm = 0;
            for (char c : f[2].toCharArray()) perm |= c == 'r' ? 4 : c == 'w' ? 2 : c == 'x' ? 1 : 0;
            entries.add(new E(tag, perm, named ? Integer.parseInt(f[1]) : -1));
        }
        entries.sort(Comparator.comparingInt(E::tag).thenComparingInt(e -> e.id));
        ByteBuffer b = ByteBuffer.allocate(4 + 8 * entries.size()).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(2);
        for (E e : entries) {
            b.putShort((short) e.tag).putShort((short) e.perm).putInt(e.id);
        }
        return b.array();
    }
}
