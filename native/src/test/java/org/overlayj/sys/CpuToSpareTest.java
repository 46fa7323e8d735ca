package org.overlayj.sys;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The runnable count CpuToSpare reads from /proc/loadavg, parsed in place. */
class CpuToSpareTest {
    private static int parse(String s) {
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        return CpuToSpare.runnable(b, b.length);
    }

    @Test void theFourthFieldBeforeTheSlash() {
        assertEquals(2, parse("0.52 0.58 0.59 2/345 6789\n"));
        assertEquals(117, parse("31.00 29.12 17.50 117/2048 1\n"));
    }

    @Test void anythingElseIsNotACount() {
        assertEquals(Integer.MAX_VALUE, parse(""));
        assertEquals(Integer.MAX_VALUE, parse("0.52 0.58 0.59"));
        assertEquals(Integer.MAX_VALUE, parse("0.52 0.58 0.59 /345 6789"));
        assertEquals(Integer.MAX_VALUE, parse("0.52 0.58 0.59 2"));
        assertEquals(Integer.MAX_VALUE, parse("0.52 0.58 0.59 99999999999/345 1"));
        assertEquals(Integer.MAX_VALUE, parse("a b c d/e"));
    }

    @Test void thisMachinesCountIsRead() {
        int n = CpuToSpare.runnable();
        // this test's own thread is runnable while it reads
        assertTrue(n >= 1 && n < Integer.MAX_VALUE, "runnable " + n);
    }
}
