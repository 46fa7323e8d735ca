package org.overlayj.core.layer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The walk of an absolute redirect in one layer: every directory on the way may redirect what the layers below
 * look for, as in the kernel's lookup (issue 19, rotating seeds 5172 and 5280; engine vs kernel in itest
 * RedirectOnTheWayTest). Plain directories, the redirects and opaque markers given by the test.
 */
class RedirectPathTest {
    Path root;

    @BeforeEach void layer() throws Exception {
        root = Files.createTempDirectory("redirect-path");
        Files.createDirectories(root.resolve("e/n0/c"));
        Files.createDirectories(root.resolve("o/p"));
    }

    @AfterEach void clean() throws Exception {
        try (var w = Files.walk(root)) {
            w.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    private RedirectPath.Walk walk(RedirectPath r, Map<String, String> redirects, Set<String> opaque) throws Exception {
        String base = root.toString();
        return r.walk(base, p -> opaque.contains(p.substring(base.length())), p -> redirects.get(p.substring(base.length())));
    }

    private static RedirectPath abs(String a) {
        RedirectPath r = new RedirectPath("x");
        r.follow(a);
        return r;
    }

    @Test void relativeThenAbsoluteOnTheWay() throws Exception {
        RedirectPath r = abs("/e/n0/c/f");
        RedirectPath.Walk w = walk(r, Map.of("/e/n0", "c", "/e/n0/c", "/c"), Set.of());
        assertEquals(root + "/e/n0/c/f", w.path());          // walked in this layer under the directories found
        assertEquals("/c/f", r.abs());                        // looked for below by what their redirects say
        assertFalse(w.opaqueOnTheWay());
    }

    @Test void relativeOnlyRenamesItsComponent() throws Exception {
        RedirectPath r = abs("/e/n0/c/f");
        walk(r, Map.of("/e/n0", "c"), Set.of());
        assertEquals("/e/c/c/f", r.abs());
    }

    @Test void missingOnTheWayKeepsWhatWasMet() throws Exception {
        RedirectPath r = abs("/e/n0/zz/y/f");
        RedirectPath.Walk w = walk(r, Map.of("/e/n0", "c"), Set.of());
        assertNull(w.path());
        assertFalse(w.end());
        assertEquals("/e/c/zz/y/f", r.abs());
    }

    @Test void opaqueStopsUnlessAnAbsoluteRedirectFollows() throws Exception {
        RedirectPath r = abs("/o/p/f");
        assertTrue(walk(r, Map.of("/o", "/q"), Set.of("/o")).opaqueOnTheWay());
        assertEquals("/o/p/f", r.abs());                      // an opaque directory's redirect is not read
        r = abs("/o/p/f");
        assertFalse(walk(r, Map.of("/o/p", "/q"), Set.of("/o")).opaqueOnTheWay());
        assertEquals("/q/f", r.abs());
    }

    @Test void dataLayerWalkReadsNoRedirects() throws Exception {
        RedirectPath.Walk w = RedirectPath.walkAbsolute(root.toString(), "/e/n0/c/f", p -> false);
        assertEquals(root + "/e/n0/c/f", w.path());
    }
}
