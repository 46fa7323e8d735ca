package org.overlayj.sys;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** prelink changes nothing: it is run by a server in whatever directory it was started from. */
class PrelinkTest {
    @Test void prelinkLeavesTheWorkingDirectoryAlone() throws Exception {
        Path cwd = Path.of("").toAbsolutePath();
        List<Path> before;
        try (var s = Files.list(cwd)) {
            before = s.sorted().toList();
        }
        Linux.prelink();
        Linux.prelink();
        try (var s = Files.list(cwd)) {
            assertEquals(before, s.sorted().toList());
        }
    }
}
