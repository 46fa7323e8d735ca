package org.overlayj.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The launcher's shortcuts around picocli: which command lines build the subcommands, and the child's arguments. */
class MainTest {
    @Test
    void subcommandTableNamesAgreeWithTheCommandsAnnotations() {
        for (Map.Entry<String, java.util.function.Supplier<Object>> e : Main.SUBCOMMANDS.entrySet()) {
            Object cmd = e.getValue().get();
            assertEquals(e.getKey(), cmd.getClass().getAnnotation(CommandLine.Command.class).name());
        }
        assertEquals(Main.SUBCOMMANDS.keySet(), Main.commandLine().getSubcommands().keySet());
    }

    @Test
    void onlyToolsHelpAndVersionBuildTheSubcommands() {
        assertFalse(Main.needsSubcommands(new String[] {"-o", "lowerdir=/l", "/mnt"}));
        assertFalse(Main.needsSubcommands(new String[] {"overlay", "/mnt", "-o", "lowerdir=/l"}));
        assertFalse(Main.needsSubcommands(new String[] {"-f", "-o", "lowerdir=/l", "--", "--help"}));
        assertTrue(Main.needsSubcommands(new String[] {"fsck", "-o", "lowerdir=/l"}));
        assertTrue(Main.needsSubcommands(new String[] {"serve", "--listen", "127.0.0.1:0"}));
        assertTrue(Main.needsSubcommands(new String[] {"--help"}));
        assertTrue(Main.needsSubcommands(new String[] {"-V"}));
        assertTrue(Main.needsSubcommands(new String[] {"-o", "lowerdir=/l", "/mnt", "-h"}));
    }

    @Test
    void theDaemonChildReadsWhatDaemonWrites() {
        MountCommand c = MountCommand.parseChild(new String[] {"-o", "lowerdir=/l", "-o", "upperdir=/u,workdir=/w",
                "-s", "--", "-odd source", "/mnt"});
        assertTrue(c.daemonChild);
        assertTrue(c.singleThreaded);
        assertEquals("lowerdir=/l,upperdir=/u,workdir=/w", c.joinedOptions());
        assertEquals(List.of("-odd source", "/mnt"), c.positional);
        assertThrows(IllegalArgumentException.class, () -> MountCommand.parseChild(new String[] {"-o", "x"}));
        assertThrows(IllegalArgumentException.class, () -> MountCommand.parseChild(new String[] {"-f", "--", "/m"}));
    }

    @Test void plainMountLinesReadWithoutPicocliAsPicocliReadsThem() {
        String[][] plain = {
            {"-o", "lowerdir=/l,upperdir=/u,workdir=/w", "/mnt"},
            {"overlay", "/mnt", "-o", "rw,lowerdir=/l"},
            {"-f", "-o", "lowerdir=/l", "-o", "index=on", "src", "/mnt", "-s"},
            {"/mnt", "-o", "lowerdir=/a\\:b"},
        };
        for (String[] args : plain) {
            MountCommand fast = MountCommand.plainMount(args);
            MountCommand slow = new MountCommand();
            new CommandLine(slow).setPosixClusteredShortOptionsAllowed(true).parseArgs(args);
            String what = String.join(" ", args);
            assertTrue(fast != null, what);
            assertEquals(slow.options, fast.options, what);
            assertEquals(slow.positional, fast.positional, what);
            assertEquals(slow.foreground, fast.foreground, what);
            assertEquals(slow.singleThreaded, fast.singleThreaded, what);
            assertEquals(slow.debug, fast.debug, what);
        }
        String[][] notPlain = {
            {"-fo", "lowerdir=/l", "/mnt"}, {"-d", "-o", "x", "/m"}, {"--help"}, {"-o", "x"}, {"fsck", "-o", "x"},
            {"-o", "-x", "/m"}, {"a", "b", "c"}, {"-o"}, {"--", "/m"}, {"-olowerdir=/l", "/m"}, {"-t", "fuse", "/m"},
        };
        for (String[] args : notPlain) assertTrue(MountCommand.plainMount(args) == null, String.join(" ", args));
    }
}
