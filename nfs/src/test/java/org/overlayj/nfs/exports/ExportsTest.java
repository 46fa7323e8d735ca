package org.overlayj.nfs.exports;

import org.junit.jupiter.api.Test;

import java.net.InetAddress;

import static org.junit.jupiter.api.Assertions.*;

class ExportsTest {

    private static InetAddress ip(String s) { return InetAddress.ofLiteral(s); }

    @Test
    void parsesClientsAndOptionsLikeExports5() throws Exception {
        Exports e = Exports.parse("""
                # comment line
                /            127.0.0.1(rw,no_root_squash,insecure) 10.0.0.0/8(ro) *(ro,all_squash,anonuid=1000,anongid=1001)
                /data/sub   192.168.1.0/255.255.255.0(rw,sync,no_subtree_check)   # trailing comment
                """);
        assertEquals(2, e.exports().size());
        Export root = e.byPath("/").orElseThrow();
        ExportOptions lo = root.optionsFor(ip("127.0.0.1")).orElseThrow();
        assertFalse(lo.readOnly());
        assertEquals(Squash.NONE, lo.squash());
        assertFalse(lo.secure());
        ExportOptions ten = root.optionsFor(ip("10.1.2.3")).orElseThrow();
        assertTrue(ten.readOnly());
        assertEquals(Squash.ROOT, ten.squash());
        assertTrue(ten.secure());
        ExportOptions any = root.optionsFor(ip("8.8.8.8")).orElseThrow();
        assertEquals(Squash.ALL, any.squash());
        assertEquals(1000, any.anonUid());
        assertEquals(1001, any.anonGid());

        Export sub = e.byPath("/data//sub/").orElseThrow();
        assertTrue(sub.optionsFor(ip("192.168.1.77")).isPresent());
        assertTrue(sub.optionsFor(ip("192.168.2.1")).isEmpty());
        assertEquals(1, e.idOf(sub));
    }

    @Test
    void firstMatchingClientWins() throws Exception {
        Exports e = Exports.parse("/x 127.0.0.1(ro) 127.0.0.0/8(rw)\n");
        assertTrue(e.byPath("/x").orElseThrow().optionsFor(ip("127.0.0.1")).orElseThrow().readOnly());
        assertFalse(e.byPath("/x").orElseThrow().optionsFor(ip("127.0.0.2")).orElseThrow().readOnly());
    }

    @Test
    void defaultsOptionsAndContinuationAndEscapes() throws Exception {
        Exports e = Exports.parse("\"/with space\" -rw,insecure \\\n   127.0.0.1 10.0.0.1(ro)\n/esc\\040aped\n");
        Export ws = e.byPath("/with space").orElseThrow();
        ExportOptions o = ws.optionsFor(ip("127.0.0.1")).orElseThrow();
        assertFalse(o.readOnly());
        assertFalse(o.secure());
        assertTrue(ws.optionsFor(ip("10.0.0.1")).orElseThrow().readOnly());
        // A line without clients exports to everyone with the exports(5) defaults.
        ExportOptions d = e.byPath("/esc aped").orElseThrow().optionsFor(ip("1.2.3.4")).orElseThrow();
        assertEquals(ExportOptions.DEFAULTS, d);
    }

    @Test
    void ipv6AndHostNames() throws Exception {
        Exports e = Exports.parse("/ ::1(rw) fd00::/8(ro) localhost(rw)\n");
        Export r = e.exports().getFirst();
        assertFalse(r.optionsFor(ip("::1")).orElseThrow().readOnly());
        assertTrue(r.optionsFor(ip("fd12::5")).orElseThrow().readOnly());
        assertTrue(r.optionsFor(ip("127.0.0.1")).isPresent(), "localhost resolves to the loopback address");
        assertTrue(r.optionsFor(ip("fe80::1")).isEmpty());
    }

    @Test
    void ipv4MappedClientsMatchIpv4Networks() throws Exception {
        Exports e = Exports.parse("/ 127.0.0.0/8(rw)\n");
        assertTrue(e.exports().getFirst().optionsFor(ip("::ffff:127.0.0.1")).isPresent());
    }

    @Test
    void refusesWhatItCannotHonour() {
        for (String bad : new String[]{"relative 127.0.0.1(rw)\n", "/ 127.0.0.1(rw,bogus)\n", "/ @netgroup(rw)\n",
                "/ 127.0.0.1(rw\n", "/a/../b *(rw)\n", "/ 10.0.0.0/33(rw)\n", "/ 10.0.0.0/255.0.255.0(rw)\n",
                "/ *(anonuid=x)\n", "/ *(sec=krb5)\n", "/ *(rw)\n/ *(ro)\n", "# nothing\n"}) {
            assertThrows(ExportsException.class, () -> Exports.parse(bad), bad);
        }
    }

    @Test
    void defaultExportIsRootReadWriteLoopbackRootSquash() {
        Exports e = Exports.defaults();
        Export r = e.byPath("/").orElseThrow();
        ExportOptions o = r.optionsFor(ip("127.0.0.1")).orElseThrow();
        assertFalse(o.readOnly());
        assertEquals(Squash.ROOT, o.squash());
        assertTrue(r.optionsFor(ip("::1")).isPresent());
        assertTrue(r.optionsFor(ip("192.168.0.1")).isEmpty());
    }

    @Test
    void squashRules() {
        ExportOptions root = new ExportOptions(false, Squash.ROOT, 65534, 65533, true);
        var c = root.squash(0, 0, new int[]{0, 5});
        assertEquals(65534, c.uid());
        assertEquals(65533, c.gid());
        assertArrayEquals(new int[]{65533, 5}, c.groups());
        assertEquals(1000, root.squash(1000, 100, null).uid());
        var all = new ExportOptions(false, Squash.ALL, 7, 8, true).squash(1000, 100, new int[]{3});
        assertEquals(7, all.uid());
        assertEquals(0, all.groups().length);
        assertEquals(0, new ExportOptions(false, Squash.NONE, 7, 8, true).squash(0, 0, null).uid());
    }

    @Test
    void readOnlyCopyKeepsEverythingElse() throws Exception {
        Exports e = Exports.parse("/a 10.0.0.0/8(rw,no_root_squash,insecure) *(rw,anonuid=5)\n/b *(ro)\n").readOnly();
        ExportOptions a = e.byPath("/a").orElseThrow().optionsFor(ip("10.1.2.3")).orElseThrow();
        assertTrue(a.readOnly());
        assertEquals(Squash.NONE, a.squash());
        assertFalse(a.secure());
        ExportOptions star = e.byPath("/a").orElseThrow().optionsFor(ip("192.168.0.1")).orElseThrow();
        assertTrue(star.readOnly());
        assertEquals(5, star.anonUid());
        assertTrue(e.byPath("/b").orElseThrow().optionsFor(ip("1.2.3.4")).orElseThrow().readOnly());
    }
}
