package org.overlayj.core.xattr;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** {@code NS nlink} read as the kernel's ovl_get_nlink reads it (format doc §5.5): the one reading of it. */
class OverlayXattrNlinkTest {
    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    @Test void wellFormedValues() {
        assertEquals(new OverlayXattr.Nlink(false, 0), OverlayXattr.parseNlink(b("U+0")));
        assertEquals(new OverlayXattr.Nlink(false, -1), OverlayXattr.parseNlink(b("U-1")));
        assertEquals(new OverlayXattr.Nlink(true, 12), OverlayXattr.parseNlink(b("L+12")));
        assertEquals(new OverlayXattr.Nlink(true, 3), OverlayXattr.parseNlink(b("L+3\n")), "kstrtoint: one newline");
        assertEquals(new OverlayXattr.Nlink(false, 5), OverlayXattr.parseNlink(b("U+5\0junk")), "read up to a NUL");
        assertEquals(new OverlayXattr.Nlink(false, Integer.MIN_VALUE), OverlayXattr.parseNlink(b("U-2147483648")));
        assertEquals("L-2", new String(new OverlayXattr.Nlink(true, -2).bytes(), StandardCharsets.US_ASCII));
    }

    @Test void malformedValues() {
        for (String v : new String[]{"", "U", "U+", "U+\n", "X+1", "U1", "U+1a", "U++1", "U+1\n\n", " U+1",
                "U+2147483648", "U+00000000000"}) {
            assertNull(OverlayXattr.parseNlink(b(v)), v);
        }
        assertNull(OverlayXattr.parseNlink(null));
    }

    @Test void unionCountAsTheKernelComputesIt() {
        // a single-link lower inode: the value is never read
        assertEquals(0, OverlayXattr.unionNlink(b("U+5"), 1, 1, 0));
        assertEquals(7, OverlayXattr.unionNlink(b("U+5"), 2, 1, 7));
        // lower hard link: U relative to the upper count, L to the lower count
        assertEquals(2, OverlayXattr.unionNlink(b("U+1"), 1, 2, 0));
        assertEquals(2, OverlayXattr.unionNlink(b("L+0"), 1, 2, 0));
        assertEquals(3, OverlayXattr.unionNlink(b("L+1"), 7, 2, 0));
        // absent, malformed or not above 0: the fallback (0 at the mount-time check: an orphan)
        assertEquals(0, OverlayXattr.unionNlink(null, 1, 2, 0));
        assertEquals(0, OverlayXattr.unionNlink(b("U-1"), 1, 2, 0));
        assertEquals(4, OverlayXattr.unionNlink(b("L-2"), 1, 2, 4));
    }
}
